using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Iot.TestUtilities;
using MQTTnet;

namespace Iot.Broker.IntegrationTests.Protocol;

/// <summary>The TLS listener (Kestrel's TLS) with a throw-away certificate, through MQTTnet and mosquitto_pub.</summary>
[Trait("Category", "Integration")]
public sealed class TlsTests
{
    [Fact]
    public async Task TlsListener_ServesMqttOverTls_ToMqttnetAndMosquitto()
    {
        using var temp = new TempDirectory("iot-tls");
        var pfx = temp.Combine("server.pfx");
        var pem = temp.Combine("ca.pem");
        using (var certificate = TestCertificates.CreateSelfSignedServer())
        {
            await File.WriteAllBytesAsync(pfx, certificate.Export(X509ContentType.Pfx, "secret"));
            await File.WriteAllTextAsync(pem, certificate.ExportCertificatePem());
        }

        await using var broker = await BrokerFixture.StartAsync(
            "--Iot:Mqtt:TlsPort=0", $"--Iot:Mqtt:TlsCertificatePath={pfx}", "--Iot:Mqtt:TlsCertificatePassword=secret");
        Assert.NotNull(broker.MqttTlsPort);
        var topic = TestIds.Topic("tls");

        using var subscriber = new MqttClientFactory().CreateMqttClient();
        var received = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        subscriber.ApplicationMessageReceivedAsync += e =>
        {
            received.TrySetResult(e.ApplicationMessage.ConvertPayloadToString());
            return Task.CompletedTask;
        };
        await subscriber.ConnectAsync(new MqttClientOptionsBuilder()
            .WithTcpServer("127.0.0.1", broker.MqttTlsPort.Value)
            .WithClientId(Ids.Client("tls-sub"))
            .WithTlsOptions(o => o.UseTls().WithCertificateValidationHandler(_ => true))
            .Build());
        await subscriber.SubscribeAsync(topic);

        var result = await ExternalClients.MosquittoPubAsync(
            "-h", "127.0.0.1", "-p", broker.MqttTlsPort.Value.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--cafile", pem, "-t", topic, "-m", "over tls", "-q", "1", "-V", "mqttv311");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("over tls", await received.Task.WaitAsync(TimeSpan.FromSeconds(10)));
    }
}
