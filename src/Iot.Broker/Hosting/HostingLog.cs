namespace Iot.Broker.Hosting;

internal static partial class HostingLog
{
    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Bound {Endpoint} endpoint on port {Port}")]
    public static partial void Bound(ILogger logger, string endpoint, int port);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Warning,
        Message = "Anonymous access is enabled (Iot:Security:AllowAnonymous=true): any client may connect and use any topic. Use this for local development only.")]
    public static partial void AnonymousEnabled(ILogger logger);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Information, Message = "Data directory {DataDir}")]
    public static partial void DataDirectory(ILogger logger, string dataDir);

    [LoggerMessage(EventId = 1024, Level = LogLevel.Warning,
        Message = "The open-files limit is {Limit} (hard {Hard}) with {Open} open at start: about {Usable} MQTT connections fit, fewer than Iot:Mqtt:MaxConnections {MaxConnections}; more wait unaccepted (counted as iot_mqtt_limit_hits_total{{limit=\"open_files\"}}). Raise the limit with ulimit -n, systemd LimitNOFILE or docker --ulimit nofile.")]
    public static partial void OpenFilesBelowMaxConnections(ILogger logger, long limit, long hard, long open, long usable, int maxConnections);

    [LoggerMessage(EventId = 1170, Level = LogLevel.Critical, Message = "The broker could not start: {Cause}")]
    public static partial void StartupFailed(ILogger logger, string cause);

    [LoggerMessage(EventId = 1174, Level = LogLevel.Critical, Message = "The broker could not start: {Cause}")]
    public static partial void StartupFailedUnexpectedly(ILogger logger, string cause, Exception exception);

    [LoggerMessage(EventId = 1180, Level = LogLevel.Information,
        Message = "Stopping: readiness is off; {Connections} MQTT connections; listeners close in {ReadinessDelaySeconds} s (Iot:Shutdown:ReadinessDelay), work in flight has {DrainTimeoutSeconds} s to finish (Iot:Shutdown:DrainTimeout)")]
    public static partial void DrainStarted(ILogger logger, long connections, double readinessDelaySeconds, double drainTimeoutSeconds);

    [LoggerMessage(EventId = 1181, Level = LogLevel.Information, Message = "Stopped gracefully in {Seconds:0.0} s ({Connections} MQTT connections left)")]
    public static partial void Drained(ILogger logger, double seconds, long connections);

    [LoggerMessage(EventId = 1182, Level = LogLevel.Warning,
        Message = "Stopped after {Seconds:0.0} s: Iot:Shutdown:DrainTimeout ({DrainTimeoutSeconds} s) ran out and the work still in flight was abandoned ({Connections} MQTT connections left); nothing acknowledged is lost, unacknowledged messages are redelivered after the restart")]
    public static partial void DrainTimedOut(ILogger logger, double seconds, double drainTimeoutSeconds, long connections);
}
