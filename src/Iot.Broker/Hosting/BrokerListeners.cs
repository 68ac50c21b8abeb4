using System.Net;
using System.Security.Cryptography.X509Certificates;
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
/// when <c>Iot:Mqtt:Transport=kestrel</c>), MQTT over TLS and HTTP on Kestrel.
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

    /// <summary>Logs the bound ports, warns when the open-files limit caps connections, writes the ports file.</summary>
    public static void ReportBound(WebApplication app, ListenerRegistry listeners)
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
}
