using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Iot.Broker.IntegrationTests.Protocol;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Security;

/// <summary>Per-client quotas (each visible in /metrics) and X.509 client certificates from a throw-away CA.</summary>
[Trait("Category", "Integration")]
public sealed class MqttLimitsAndCertificateTests
{
    [Fact]
    public async Task MaxSubscriptionsPerClient_ExtraSubscriptionGetsQuotaExceeded()
    {
        await using var broker = await BrokerFixture.StartAsync("--Iot:Mqtt:MaxSubscriptionsPerClient=2");
        await using var client = await TestClient.ConnectAsync(broker, Ids.Client("subq"));
        var result = await client.Client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter("q/1").WithTopicFilter("q/2").WithTopicFilter("q/3").Build());
        Assert.Equal(MqttClientSubscribeResultCode.QuotaExceeded, result.Items.Last().ResultCode);
        Assert.Contains("iot_mqtt_limit_hits_total{limit=\"max_subscriptions_per_client\"} 1", await Metrics(broker), StringComparison.Ordinal);
    }

    [Fact]
    public async Task MaxConnectionsPerIdentity_SecondConnectionIsRefused()
    {
        await using var broker = await BrokerFixture.StartAsync(
            "--Iot:Mqtt:MaxConnectionsPerIdentity=1",
            "--Iot:Security:Identities:0:Id=svc1", "--Iot:Security:Identities:0:Role=Service", "--Iot:Security:Identities:0:Password=pw-123456");
        await using var first = await TestClient.ConnectAsync(broker, Ids.Client("a"), o => o.WithCredentials("svc1", "pw-123456"));
        using var second = new MqttClientFactory().CreateMqttClient();
        var result = await second.ConnectAsync(broker.CreateMqttClientOptionsBuilder(Ids.Client("b")).WithCredentials("svc1", "pw-123456").Build());
        Assert.Equal(MqttClientConnectResultCode.QuotaExceeded, result.ResultCode);
    }

    [Fact]
    public async Task PublishRate_FloodPastTheHardLimit_DisconnectsWithMessageRateTooHigh()
    {
        await using var broker = await BrokerFixture.StartAsync(
            "--Iot:Mqtt:PublishRatePerSecond=5", "--Iot:Mqtt:PublishBurst=5", "--Iot:Mqtt:PublishThrottleMaxSeconds=1");
        var (raw, _) = await RawMqttClient.ConnectAsync(broker.MqttPort, new MqttConnectPacket { ClientId = Ids.Client("flood"), CleanSession = true, KeepAlivePeriod = 30 });
        await using (raw)
        {
            await raw.SendBurstAsync(Enumerable.Range(0, 40).Select(_ => new MqttPublishPacket { Topic = "flood/x", Payload = new(Encoding.UTF8.GetBytes("x")) }));
            var disconnect = await raw.ReceiveAsync<MqttDisconnectPacket>(TimeSpan.FromSeconds(10));
            Assert.Equal(MqttDisconnectReasonCode.MessageRateTooHigh, disconnect?.ReasonCode);
        }

        var metrics = await Metrics(broker);
        Assert.Contains("iot_mqtt_limit_hits_total{limit=\"publish_rate_disconnected\"} 1", metrics, StringComparison.Ordinal);
        Assert.Matches("iot_mqtt_limit_hits_total\\{limit=\"publish_rate_throttled\"\\} [1-9]", metrics);
    }

    [Fact]
    public async Task ConnectRatePerAddress_BurstBeyondTheBucketIsClosed()
    {
        await using var broker = await BrokerFixture.StartAsync("--Iot:Mqtt:ConnectRatePerAddress=1", "--Iot:Mqtt:ConnectRateMaxDelaySeconds=0");
        var refused = 0;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 20; i++)
        {
            try
            {
                var raw = await RawMqttClient.ConnectTcpAsync(broker.MqttPort);
                await using (raw)
                {
                    await raw.SendAsync(new MqttConnectPacket { ClientId = Ids.Client("rate"), CleanSession = true, KeepAlivePeriod = 30 });
                    if (await raw.ReceiveAsync(TimeSpan.FromSeconds(30)) is not MqttConnAckPacket)
                    {
                        refused++;
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException)
            {
                refused++; // closed (reset) before CONNECT was read
            }
        }

        // A burst of 2 (twice the rate) plus one per second gets through: bounded by the time the attempts took, so that a
        // busy machine (slower attempts, more of them let through) cannot fail it.
        var mayPass = 3 + (int)Math.Ceiling(watch.Elapsed.TotalSeconds);
        Assert.True(refused >= 1 && 20 - refused <= mayPass, $"{20 - refused} of 20 got through in {watch.Elapsed.TotalSeconds:F1} s (at most {mayPass})");
        Assert.Matches("iot_mqtt_limit_hits_total\\{limit=\"connect_rate_per_address\"\\} [1-9]", await Metrics(broker));
    }

    [Fact]
    public async Task MaxTopicLevels_DeeperPublishIsRefused()
    {
        await using var broker = await BrokerFixture.StartAsync("--Iot:Mqtt:MaxTopicLevels=3");
        var (raw, _) = await RawMqttClient.ConnectAsync(broker.MqttPort, new MqttConnectPacket { ClientId = Ids.Client("deep"), CleanSession = true, KeepAlivePeriod = 30 });
        await using (raw)
        {
            await raw.SendAsync(new MqttPublishPacket { Topic = "a/b/c/d", Payload = new(Encoding.UTF8.GetBytes("x")) });
            var disconnect = await raw.ReceiveAsync<MqttDisconnectPacket>(TimeSpan.FromSeconds(30));
            Assert.Equal(MqttDisconnectReasonCode.TopicNameInvalid, disconnect?.ReasonCode);
        }
    }

    [Fact]
    public async Task ClientCertificate_FromTheConfiguredCa_AuthenticatesTheDevice_OthersAreRefused()
    {
        using var temp = new TempDirectory("iot-mtls");
        using var ca = CreateCa("CN=Iot Test Device CA");
        using var otherCa = CreateCa("CN=Someone Else");
        using var server = TestCertificates.CreateSelfSignedServer();
        var deviceId = "certdev-" + Guid.NewGuid().ToString("N")[..6];
        using var deviceCert = Issue(ca, deviceId);
        using var rogueCert = Issue(otherCa, deviceId);
        var serverPfx = temp.Combine("server.pfx");
        var caPem = temp.Combine("ca.pem");
        await File.WriteAllBytesAsync(serverPfx, server.Export(X509ContentType.Pfx, "pw"));
        await File.WriteAllTextAsync(caPem, ca.ExportCertificatePem());

        await using var broker = await BrokerFixture.StartAsync(
            "--Iot:Security:AllowAnonymous=false",
            "--Iot:Mqtt:TlsPort=0", $"--Iot:Mqtt:TlsCertificatePath={serverPfx}", "--Iot:Mqtt:TlsCertificatePassword=pw",
            $"--Iot:Mqtt:ClientCertificateCaPath={caPem}",
            $"--Iot:Security:Identities:0:Id={deviceId}", "--Iot:Security:Identities:0:Role=Device", "--Iot:Security:Identities:0:Password=unused-pw-1");

        using (var good = new MqttClientFactory().CreateMqttClient())
        {
            var result = await good.ConnectAsync(TlsOptions(broker, deviceId, deviceCert));
            Assert.Equal(MqttClientConnectResultCode.Success, result.ResultCode);
            var own = await good.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"devices/{deviceId}/telemetry").WithPayload("{}").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            Assert.Equal(MqttClientPublishReasonCode.Success, own.ReasonCode);
            var other = await good.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("devices/someone/telemetry").WithPayload("{}").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, other.ReasonCode);
            await good.DisconnectAsync();
        }

        using var rogue = new MqttClientFactory().CreateMqttClient();
        var refused = await rogue.ConnectAsync(TlsOptions(broker, deviceId, rogueCert));
        Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, refused.ResultCode);
    }

    private static MqttClientOptions TlsOptions(BrokerFixture broker, string clientId, X509Certificate2 clientCertificate) =>
        new MqttClientOptionsBuilder()
            .WithTcpServer("127.0.0.1", broker.MqttTlsPort!.Value)
            .WithClientId(clientId)
            .WithTlsOptions(o => o.UseTls()
                .WithClientCertificates([clientCertificate])
                .WithCertificateValidationHandler(_ => true))
            .Build();

    private static async Task<string> Metrics(BrokerFixture broker)
    {
        using var http = new HttpClient { BaseAddress = broker.HttpBaseUri };
        return await http.GetStringAsync("/metrics");
    }

    private static X509Certificate2 CreateCa(string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
    }

    private static X509Certificate2 Issue(X509Certificate2 ca, string deviceId)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={deviceId}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
        var serial = RandomNumberGenerator.GetBytes(8);
        using var issued = request.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(12), serial);
        var withKey = issued.CopyWithPrivateKey(key);
        // Round-trip through PKCS#12 so SslStream can use the private key on Linux.
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pfx), null);
    }
}
