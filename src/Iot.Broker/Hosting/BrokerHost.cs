using System.Net;
using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Iot.Broker.Api;
using Iot.Broker.Dashboard;
using Iot.Broker.Mqtt;
using Iot.Broker.Mqtt.Transport;
using Iot.Broker.Security.Identities;
using Iot.Routing.Hosting;
using Iot.Streams.Hosting;
using Iot.Streams.Sinks.Influx;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
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
        builder.Services.AddIotBroker(builder.Configuration);
        builder.Services.AddIotSecurity(builder.Configuration);
        builder.Services.AddIotRouting(builder.Configuration);
        builder.Services.AddIotStreams(builder.Configuration);
        builder.Services.AddInfluxSink(builder.Configuration);
        builder.Services.AddApiErrors();
        configure?.Invoke(builder);

        // Until the host has started, its own log of a failed start (a stack trace) is left out: RunAsync says why in
        // one line. Warnings, and errors once started (a background service that fails), are logged as always.
        var started = new StrongBox<bool>();
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host",
            level => level >= LogLevel.Warning && (level < LogLevel.Error || Volatile.Read(ref started.Value)));

        var listeners = new ListenerRegistry();
        builder.Services.AddSingleton(listeners);
        // Registered after the broker's services, so it stops first: it closes its connections while sessions exist.
        builder.Services.AddHostedService<SocketMqttListener>();
        builder.WebHost.ConfigureKestrel((context, kestrel) => ConfigureListeners(context.Configuration, kestrel, listeners));

        var app = builder.Build();

        // An identity disabled, deleted or given new credentials loses its live MQTT connections at once.
        var broker = app.Services.GetRequiredService<MqttBroker>();
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

        app.UseApiErrors();
        app.UseWebSockets();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapConnectionHandler<MqttConnectionHandler>("/mqtt", options =>
        {
            options.Transports = HttpTransportType.WebSockets;
            options.WebSockets.SubProtocolSelector = MQTTnet.AspNetCore.MqttSubProtocolSelector.SelectSubProtocol;
        });
        app.MapOperationsEndpoints();
        app.MapDashboard();
        var api = app.MapGroup("/api").RequireAuthorization(IotApiPolicy.Name);
        api.MapDeviceApi();
        api.MapClientApi();
        api.MapRoutingApi();
        api.MapStreamsApi();
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            Volatile.Write(ref started.Value, true);
            ReportBoundPorts(app, listeners);
        });
        return app;
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
        HostingLog.StartupFailed(logger, description);
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

    private static void ConfigureListeners(IConfiguration configuration, KestrelServerOptions kestrel, ListenerRegistry listeners)
    {
        var mqtt = configuration.GetSection(MqttOptions.SectionName).Get<MqttOptions>() ?? new MqttOptions();
        var http = configuration.GetSection(HttpOptions.SectionName).Get<HttpOptions>() ?? new HttpOptions();
        var address = mqtt.BindAddress is "*" or "" ? IPAddress.IPv6Any : IPAddress.Parse(mqtt.BindAddress);

        if (mqtt.Port >= 0 && mqtt.EffectiveTransport == MqttOptions.KestrelTransport)
        {
            kestrel.Listen(address, mqtt.Port, listen =>
            {
                listen.UseConnectionHandler<MqttConnectionHandler>();
                listeners.Mqtt = listen;
            });
        }

        if (!string.IsNullOrEmpty(mqtt.TlsCertificatePath))
        {
            var certificate = LoadCertificate(mqtt);
            kestrel.Listen(address, mqtt.TlsPort, listen =>
            {
                listen.UseHttps(new HttpsConnectionAdapterOptions
                {
                    ServerCertificate = certificate,
                    ClientCertificateMode = ClientCertificateMode.AllowCertificate,
                    // Client certificates are validated by the authentication layer against the configured CA.
                    ClientCertificateValidation = static (_, _, _) => true,
                });
                listen.UseConnectionHandler<MqttConnectionHandler>();
                listeners.MqttTls = listen;
            });
        }

        kestrel.Limits.MaxRequestBodySize = http.MaxRequestBodyBytes;
        kestrel.Listen(address, http.Port, listen =>
        {
            listen.Protocols = HttpProtocols.Http1;
            listeners.Http = listen;
        });
    }

    private static X509Certificate2 LoadCertificate(MqttOptions mqtt)
    {
        var path = mqtt.TlsCertificatePath!;
        if (!File.Exists(path))
        {
            throw new OptionsValidationException(MqttOptions.SectionName, typeof(MqttOptions),
                [$"Iot:Mqtt:TlsCertificatePath '{path}' does not exist."]);
        }

        if (!string.IsNullOrEmpty(mqtt.TlsKeyPath))
        {
            return X509Certificate2.CreateFromPemFile(path, mqtt.TlsKeyPath);
        }

        return X509CertificateLoader.LoadPkcs12FromFile(path, mqtt.TlsCertificatePassword);
    }

    private static void ReportBoundPorts(WebApplication app, ListenerRegistry listeners)
    {
        var log = app.Services.GetRequiredService<ILogger<BrokerEndpoints>>();
        var endpoints = app.Services.GetRequiredService<BrokerEndpoints>();
        int? mqtt = listeners.MqttSocketPort ?? listeners.Mqtt?.IPEndPoint?.Port;
        int? tls = listeners.MqttTls?.IPEndPoint?.Port;
        var http = listeners.Http?.IPEndPoint?.Port ?? 0;
        endpoints.Set(mqtt, tls, http);

        if (mqtt is { } m)
        {
            HostingLog.Bound(log, "mqtt", m);
        }

        if (tls is { } t)
        {
            HostingLog.Bound(log, "mqtts", t);
        }

        HostingLog.Bound(log, "http", http);
        WarnWhenOpenFilesLimitConnections(log, app.Services.GetRequiredService<IOptions<MqttOptions>>().Value.MaxConnections);

        var portsFile = app.Services.GetRequiredService<IOptions<IotOptions>>().Value.PortsFile;
        if (!string.IsNullOrEmpty(portsFile))
        {
            var json = JsonSerializer.Serialize(new Dictionary<string, int?> { ["mqtt"] = mqtt, ["mqtts"] = tls, ["http"] = http });
            var temp = portsFile + ".tmp";
            File.WriteAllText(temp, json);
            File.Move(temp, portsFile, overwrite: true);
        }
    }

    /// <summary>Says so at start when the process's open-files limit, not Iot:Mqtt:MaxConnections, caps the connections.</summary>
    private static void WarnWhenOpenFilesLimitConnections(ILogger log, int maxConnections)
    {
        if (OpenFiles.Limits() is var (soft, hard) && OpenFiles.Open() is { } open
            && soft - open - OpenFiles.Margin is var usable && usable < maxConnections)
        {
            HostingLog.OpenFilesBelowMaxConnections(log, soft, hard, open, Math.Max(0, usable), maxConnections);
        }
    }

    /// <summary>Holds Kestrel's listen options so that the bound ports can be read after start.</summary>
    internal sealed class ListenerRegistry
    {
        public ListenOptions? Mqtt { get; set; }

        /// <summary>The port of the plain MQTT listener on the socket transport.</summary>
        public int? MqttSocketPort { get; set; }

        public ListenOptions? MqttTls { get; set; }

        public ListenOptions? Http { get; set; }
    }
}
