using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Iot.TestUtilities;

namespace Iot.Broker.IntegrationTests.Protocol;

/// <summary>
/// The HTTPS listener (<c>Iot:Http:TlsPort</c>) with a throw-away certificate: MQTT.js over <c>wss://</c> trusting only
/// that certificate, and the HTTP endpoints over HTTPS.
/// </summary>
[Trait("Category", "Integration")]
public sealed class SecureWebSocketTests
{
    private const string Script = """
        const mqtt = require('mqtt');
        const fs = require('fs');
        const env = process.env;
        let stage = 'start';
        const deadline = setTimeout(() => { console.error('timed out at: ' + stage); process.exit(3); }, 20000);
        const base = { protocolVersion: Number(env.PROTOCOL_VERSION), reconnectPeriod: 0, connectTimeout: 10000, clean: true };
        const trusted = { ...base, ca: fs.readFileSync(env.CA_FILE) };
        async function main() {
          // Without the CA the certificate must be refused: this is TLS with verification, not a plain socket.
          stage = 'connect untrusted';
          let untrusted;
          try {
            const c = await mqtt.connectAsync(env.URL, { ...base, clientId: env.CLIENT_ID + '-u' }, false);
            await c.endAsync();
            untrusted = 'connected';
          } catch (e) {
            untrusted = String((e && (e.code || e.message)) || e);
          }
          stage = 'connect subscriber';
          const sub = await mqtt.connectAsync(env.URL, { ...trusted, clientId: env.CLIENT_ID + '-s' }, false);
          stage = 'subscribe';
          const granted = await sub.subscribeAsync(env.TOPIC, { qos: 1 });
          const received = new Promise(resolve => sub.on('message', (t, payload, packet) =>
            resolve({ topic: t, payload: payload.toString(), qos: packet.qos })));
          stage = 'connect publisher';
          const pub = await mqtt.connectAsync(env.URL, { ...trusted, clientId: env.CLIENT_ID + '-p' }, false);
          stage = 'publish';
          await pub.publishAsync(env.TOPIC, 'over wss', { qos: 1 });
          stage = 'receive';
          const message = await received;
          await pub.endAsync();
          await sub.endAsync();
          return { untrusted, granted: granted.map(g => g.qos), message };
        }
        main().then(r => { clearTimeout(deadline); console.log(JSON.stringify(r)); process.exit(0); })
          .catch(e => { console.error('failed at ' + stage + ': ' + ((e && e.stack) || e)); process.exit(1); });
        """;

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    public async Task MqttJs_OverWss_RoundTripsWithVerifiedCertificate(int protocolVersion)
    {
        using var temp = new TempDirectory("iot-wss");
        var (pfx, ca) = await WriteCertificateAsync(temp);
        await using var broker = await BrokerFixture.StartAsync(
            "--Iot:Http:TlsPort=0", $"--Iot:Http:TlsCertificatePath={pfx}", "--Iot:Http:TlsCertificatePassword=secret");
        Assert.NotNull(broker.HttpsPort);
        Assert.NotEqual(broker.HttpPort, broker.HttpsPort);
        var topic = TestIds.Topic($"wss/v{protocolVersion}");

        var result = await NodeMqtt.RunForJsonAsync(Script, new Dictionary<string, string>
        {
            ["URL"] = broker.SecureWebSocketUri.ToString(),
            ["CA_FILE"] = ca,
            ["PROTOCOL_VERSION"] = protocolVersion.ToString(CultureInfo.InvariantCulture),
            ["TOPIC"] = topic,
            ["CLIENT_ID"] = TestIds.ClientId("wss"),
        });

        Assert.Contains("SELF_SIGNED", result.GetProperty("untrusted").GetString(), StringComparison.Ordinal);
        Assert.Equal([1], result.GetProperty("granted").EnumerateArray().Select(g => g.GetInt32()));
        var message = result.GetProperty("message");
        Assert.Equal(topic, message.GetProperty("topic").GetString());
        Assert.Equal("over wss", message.GetProperty("payload").GetString());
        Assert.Equal(1, message.GetProperty("qos").GetInt32());
    }

    [Fact]
    public async Task Https_ServesWhatHttpServes_AndOnlyWithACertificate()
    {
        using var temp = new TempDirectory("iot-https");
        var (pfx, ca) = await WriteCertificateAsync(temp);
        await using var broker = await BrokerFixture.StartAsync(
            "--Iot:Http:TlsPort=0", $"--Iot:Http:TlsCertificatePath={pfx}", "--Iot:Http:TlsCertificatePassword=secret");
        using var trust = X509CertificateLoader.LoadCertificateFromFile(ca);
        using var handler = new HttpClientHandler
        {
            // Trust only the test certificate, with the chain and name checked as for any server.
            ServerCertificateCustomValidationCallback = (_, certificate, _, errors) =>
            {
                if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
                {
                    return false;
                }

                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(trust);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return chain.Build(certificate);
            },
        };
        using var https = new HttpClient(handler) { BaseAddress = broker.HttpsBaseUri, Timeout = TimeSpan.FromSeconds(15) };

        foreach (var path in new[] { "healthz/live", "", "metrics", "api/streams", "openapi/v1.json" })
        {
            using var response = await https.GetAsync(new Uri(path, UriKind.Relative));
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET /{path} over HTTPS: {(int)response.StatusCode}");
        }

        // The plain listener stays plain, and a broker without the setting has no HTTPS listener.
        using var plain = new HttpClient { BaseAddress = broker.HttpBaseUri, Timeout = TimeSpan.FromSeconds(15) };
        Assert.Equal(HttpStatusCode.OK, (await plain.GetAsync(new Uri("healthz/live", UriKind.Relative))).StatusCode);
        await using var without = await BrokerFixture.StartAsync();
        Assert.Null(without.HttpsPort);
    }

    [Fact]
    public async Task Https_MissingCertificateFile_FailsStartWithTheSetting()
    {
        using var temp = new TempDirectory("iot-https-missing");
        var missing = temp.Combine("nope.pfx");

        var error = await Assert.ThrowsAnyAsync<Exception>(() => BrokerFixture.StartAsync("--Iot:Http:TlsPort=0", $"--Iot:Http:TlsCertificatePath={missing}"));

        Assert.Contains("Iot:Http:TlsCertificatePath", error.ToString(), StringComparison.Ordinal);
    }

    /// <summary>A self-signed server certificate as a PFX (password <c>secret</c>) and its certificate as PEM (the clients' CA).</summary>
    internal static async Task<(string Pfx, string Ca)> WriteCertificateAsync(TempDirectory temp)
    {
        var pfx = temp.Combine("server.pfx");
        var ca = temp.Combine("ca.pem");
        using var certificate = TestCertificates.CreateSelfSignedServer();
        await File.WriteAllBytesAsync(pfx, certificate.Export(X509ContentType.Pfx, "secret"));
        await File.WriteAllTextAsync(ca, certificate.ExportCertificatePem());
        return (pfx, ca);
    }
}
