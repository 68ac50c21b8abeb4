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
}
