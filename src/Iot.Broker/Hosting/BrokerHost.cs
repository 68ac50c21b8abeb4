using System.Runtime.CompilerServices;
using Iot.Broker.Api;
using Iot.Broker.Cluster;
using Iot.Broker.Cluster.Nodes;
using Iot.Broker.Dashboard;
using Iot.Broker.Hosting.Audit;
using Iot.Broker.Hosting.Backup;
using Iot.Broker.Hosting.OpenApi;
using Iot.Broker.Hosting.Telemetry;
using Iot.Broker.Mqtt;
using Iot.Broker.Security.Identities;
using Iot.Routing.ClaimCheck;
using Iot.Routing.Hosting;
using Iot.Streams.Hosting;
using Iot.Streams.Sinks.Influx;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Hosting;

/// <summary>Builds the broker's web application: Kestrel listeners for MQTT (TCP, TLS), HTTP and MQTT over WebSocket.</summary>
public static class BrokerHost
{
    /// <summary>
    /// Runs the broker until it is stopped and returns the process's exit code: 0, or
    /// <see cref="StartupFailure.ExitCode"/> after one log line naming the cause when it could not start.
    /// </summary>
    /// <param name="args">Arguments such as <c>--Iot:Mqtt:Port=0</c>.</param>
    public static async Task<int> RunAsync(string[] args)
    {
        WebApplication? app = null;
        try
        {
            app = Create(args);
            await app.StartAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            await ReportStartupFailureAsync(app, args, ex).ConfigureAwait(false);
            return StartupFailure.ExitCode;
        }

        await using (app.ConfigureAwait(false))
        {
            await app.WaitForShutdownAsync().ConfigureAwait(false);
        }

        return 0;
    }

    /// <summary>Creates the broker application from command-line arguments (ASP.NET Core configuration applies).</summary>
    /// <param name="args">Arguments such as <c>--Iot:Mqtt:Port=0</c>.</param>
    /// <param name="configure">Optional extra configuration of the builder (tests).</param>
    public static WebApplication Create(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);

        // Before any store opens: Iot:Restore:From fills an empty data directory from a backup.
        Backup.BackupRestore.RestoreIfConfigured(builder.Configuration);
        AddServices(builder);
        configure?.Invoke(builder);
        var started = QuietUntilStarted(builder);
        var listeners = BrokerListeners.Add(builder);

        var app = builder.Build();
        EndAccessOfChangedIdentities(app);
        MapEndpoints(app);
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            Volatile.Write(ref started.Value, true);
            BrokerListeners.ReportBound(app, listeners);
        });
        return app;
    }

    /// <summary>Cluster mode when configured (the NATS connection first), the MQTT core, security, routing (event subscriptions, queues, commands), streams, the InfluxDB sink and the metrics (OpenTelemetry).</summary>
    private static void AddServices(WebApplicationBuilder builder)
    {
        builder.Services.AddIotCluster(builder.Configuration);
        builder.Services.AddIotBroker(builder.Configuration);
        builder.Services.AddIotSecurity(builder.Configuration);
        builder.Services.AddIotRouting(builder.Configuration);
        builder.Services.AddIotClaimCheck(builder.Configuration);
        builder.Services.AddIotStreams(builder.Configuration);
        builder.Services.AddInfluxSink(builder.Configuration);
        builder.Services.AddIotBackup(builder.Configuration);
        builder.Services.AddIotAudit(builder.Configuration);
        builder.Services.AddApiRateLimit();
        builder.Services.AddApiErrors();
        builder.Services.AddIotOpenApi();
        builder.Services.AddIotTelemetry(builder.Configuration);
    }

    /// <summary>
    /// Until the host has started, its own log of a failed start (a stack trace) is left out: <see cref="RunAsync"/>
    /// says why in one line. Warnings, and errors once started (a background service that fails), are logged as always.
    /// </summary>
    private static StrongBox<bool> QuietUntilStarted(WebApplicationBuilder builder)
    {
        var started = new StrongBox<bool>();
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host",
            level => level >= LogLevel.Warning && (level < LogLevel.Error || Volatile.Read(ref started.Value)));
        return started;
    }

    /// <summary>An identity disabled, deleted or given new credentials loses its live MQTT connections at once.</summary>
    private static void EndAccessOfChangedIdentities(WebApplication app)
    {
        var broker = app.Services.GetRequiredService<ConnectionServices>();
        app.Services.GetRequiredService<IdentityRegistry>().IdentityChanged += change =>
        {
            if (change.RevokesConnections)
            {
                broker.CloseConnectionsOf(change.IdentityId);
            }

            if (change.Kind == IdentityChangeKind.Deleted)
            {
                // Its sessions die with it: an identity created later under the same id starts with none of them.
                broker.EndSessionsOf(change.IdentityId);
            }
        };
    }

    /// <summary>
    /// MQTT over WebSocket at <c>/mqtt</c>, <c>/healthz</c> and <c>/metrics</c>, the dashboard, the API under <c>/api</c> and its
    /// OpenAPI document (<c>/openapi/v1.json</c>, browsable at <c>/openapi/ui/</c>).
    /// </summary>
    private static void MapEndpoints(WebApplication app)
    {
        app.UseApiErrors();
        app.UseWebSockets();

        // Around authentication, so that it sees the caller and records refused changes (403) too.
        app.UseMiddleware<AuditMiddleware>();
        app.UseAuthentication();
        app.UseRateLimiter();
        app.UseAuthorization();
        app.MapConnectionHandler<MqttConnectionHandler>("/mqtt", options =>
        {
            options.Transports = HttpTransportType.WebSockets;
            options.WebSockets.SubProtocolSelector = MQTTnet.AspNetCore.MqttSubProtocolSelector.SelectSubProtocol;
        });
        app.MapOperationsEndpoints();
        app.MapDashboard();
        app.MapIotOpenApi();
        app.MapClaimCheckUrls();
        var api = app.MapGroup("/api").RequireAuthorization(IotApiPolicy.Name)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
        api.MapDeviceApi();
        api.MapClientApi();
        api.MapClusterApi();
        api.MapRoutingApi();
        api.MapClaimCheckApi();
        api.MapStreamsApi();
        api.MapBackupApi();
        api.MapAuditApi();
    }

    /// <summary>The listener ports by setting, defaults included; null when the settings cannot be read.</summary>
    private static Dictionary<string, int>? ConfiguredPorts(IConfiguration configuration)
    {
        try
        {
            var mqtt = configuration.GetSection(MqttOptions.SectionName).Get<MqttOptions>() ?? new MqttOptions();
            var http = configuration.GetSection(HttpOptions.SectionName).Get<HttpOptions>() ?? new HttpOptions();
            return new Dictionary<string, int>
            {
                [$"{MqttOptions.SectionName}:Port"] = mqtt.Port,
                [$"{MqttOptions.SectionName}:TlsPort"] = mqtt.TlsPort,
                [$"{HttpOptions.SectionName}:Port"] = http.Port,
                [$"{HttpOptions.SectionName}:TlsPort"] = http.TlsPort,
            };
        }
        catch (InvalidOperationException)
        {
            // A value that does not bind (the failure itself, perhaps): the line names the port without its setting.
            return null;
        }
    }

    /// <summary>Logs why start-up failed in one line, then releases what was opened (ports, stores).</summary>
    private static async Task ReportStartupFailureAsync(WebApplication? app, string[] args, Exception exception)
    {
        var configuration = app?.Configuration
            ?? new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine(args).Build();
        var description = StartupFailure.Describe(exception, configuration[$"{IotOptions.SectionName}:DataDir"], ConfiguredPorts(configuration));
        using var fallback = app is null ? LoggerFactory.Create(logging => logging.AddSimpleConsole()) : null;
        var factory = app?.Services.GetService<ILoggerFactory>() ?? fallback!;
        var logger = factory.CreateLogger(typeof(BrokerHost).FullName!);
        if (StartupFailure.IsDiagnosed(exception))
        {
            HostingLog.StartupFailed(logger, description);
        }
        else
        {
            HostingLog.StartupFailedUnexpectedly(logger, description, exception);
        }
        if (app is null)
        {
            return;
        }

        try
        {
            await app.StopAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Stopping what half started can fail for the same cause; the cause is already logged.
        }

        // Disposing the host also flushes its console log.
        await app.DisposeAsync().ConfigureAwait(false);
    }
}
