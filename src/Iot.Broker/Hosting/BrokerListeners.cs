using System.Net;
using System.Text.Json;
using Iot.Broker.Mqtt;
using Iot.Broker.Mqtt.Transport;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Hosting;

/// <summary>
/// The broker's listeners: MQTT over TCP on the broker's own transport (<see cref="SocketMqttListener"/>; on Kestrel
/// when <c>Iot:Mqtt:Transport=kestrel</c>), MQTT over TLS, HTTP and HTTPS (when <c>Iot:Http:TlsCertificatePath</c> is
/// set: the same endpoints, <c>/mqtt</c> as <c>wss://</c>) on Kestrel.
/// </summary>
internal static class BrokerListeners
{
    /// <summary>Registers the listeners; the returned registry holds their ports once the host has started.</summary>
    public static ListenerRegistry Add(WebApplicationBuilder builder)
    {
        var listeners = new ListenerRegistry();
        builder.Services.AddSingleton(listeners);
        // Registered after the broker's services, so it stops first: it closes its connections while sessions exist.
        builder.Services.AddHostedService<SocketMqttListener>();
        builder.WebHost.ConfigureKestrel((context, kestrel) => ConfigureKestrel(context.Configuration, kestrel, listeners));
        return listeners;
    }

    private static void ConfigureKestrel(IConfiguration configuration, KestrelServerOptions kestrel, ListenerRegistry listeners)
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
            var certificate = ListenerCertificate.Load(MqttOptions.SectionName, typeof(MqttOptions), mqtt.TlsCertificatePath,
                mqtt.TlsKeyPath, mqtt.TlsCertificatePassword);
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

        if (!string.IsNullOrEmpty(http.TlsCertificatePath))
        {
            // Its own certificate, not the MQTT listener's: see HttpOptions.TlsCertificatePath for why.
            var certificate = ListenerCertificate.Load(HttpOptions.SectionName, typeof(HttpOptions), http.TlsCertificatePath,
                http.TlsKeyPath, http.TlsCertificatePassword);
            kestrel.Listen(address, http.TlsPort, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                // No client certificates: a browser would offer its own, and MQTT clients with certificates use the TLS listener.
                listen.UseHttps(new HttpsConnectionAdapterOptions { ServerCertificate = certificate });
                listeners.Https = listen;
            });
        }
    }

    /// <summary>Logs the bound ports, warns when the open-files limit caps connections, writes the ports file.</summary>
    public static void ReportBound(WebApplication app, ListenerRegistry listeners)
    {
        var log = app.Services.GetRequiredService<ILogger<BrokerEndpoints>>();
        var endpoints = app.Services.GetRequiredService<BrokerEndpoints>();
        int? mqtt = listeners.MqttSocketPort ?? listeners.Mqtt?.IPEndPoint?.Port;
        int? tls = listeners.MqttTls?.IPEndPoint?.Port;
        var http = listeners.Http?.IPEndPoint?.Port ?? 0;
        int? https = listeners.Https?.IPEndPoint?.Port;
        endpoints.Set(mqtt, tls, http, https);

        if (mqtt is { } m)
        {
            HostingLog.Bound(log, "mqtt", m);
        }

        if (tls is { } t)
        {
            HostingLog.Bound(log, "mqtts", t);
        }

        HostingLog.Bound(log, "http", http);
        if (https is { } h)
        {
            HostingLog.Bound(log, "https", h);
        }

        WarnWhenOpenFilesLimitConnections(log, app.Services.GetRequiredService<IOptions<MqttOptions>>().Value.MaxConnections);

        var portsFile = app.Services.GetRequiredService<IOptions<IotOptions>>().Value.PortsFile;
        if (!string.IsNullOrEmpty(portsFile))
        {
            var json = JsonSerializer.Serialize(new Dictionary<string, int?> { ["mqtt"] = mqtt, ["mqtts"] = tls, ["http"] = http, ["https"] = https });
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
}
