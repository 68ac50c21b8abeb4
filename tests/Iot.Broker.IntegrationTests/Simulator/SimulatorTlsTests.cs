using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Iot.TestUtilities;

namespace Iot.Broker.IntegrationTests.Simulator;

/// <summary>
/// The simulator over <c>mqtts://</c> to the TLS listener and over <c>wss://</c> to the HTTPS listener, with throw-away
/// self-signed certificates.
/// </summary>
[Collection(SimulatorBroker.Name)]
[Trait("Category", "Integration")]
public sealed class SimulatorTlsTests
{
    [Fact]
    public async Task Mqtts_SelfSignedCertificate_ConnectsWithInsecureOnly()
    {
        using var temp = new TempDirectory("iot-sim-tls");
        var pfx = temp.Combine("server.pfx");
        using (var certificate = TestCertificates.CreateSelfSignedServer())
        {
            await File.WriteAllBytesAsync(pfx, certificate.Export(X509ContentType.Pfx, "secret"));
        }

        await using var broker = await BrokerFixture.StartAsync(
            "--Iot:Mqtt:TlsPort=0", $"--Iot:Mqtt:TlsCertificatePath={pfx}", "--Iot:Mqtt:TlsCertificatePassword=secret");
        var url = string.Create(CultureInfo.InvariantCulture, $"mqtts://127.0.0.1:{broker.MqttTlsPort}");
        using var api = new SimulatorApi(broker.HttpBaseUri);

        var prefix = SimulatorBroker.UniquePrefix("tls");
        await using (var simulator = SimulatorProcess.Start("--broker", url, "--insecure", "--devices", "2", "--prefix", prefix))
        {
            await simulator.WaitForAllConnectedAsync(2, TimeSpan.FromSeconds(20));
            var (status, ping) = await api.CommandAsync(prefix + "0002", "ping", "{}");
            Assert.Equal(200, status);
            Assert.True(ping.GetProperty("answer").GetProperty("pong").GetBoolean());
            Assert.Equal(0, await simulator.InterruptAsync());
        }

        // Without --insecure the certificate is checked, and this one is trusted by no one.
        await using var strict = SimulatorProcess.Start("--broker", url, "--devices", "1", "--prefix", SimulatorBroker.UniquePrefix("tls"), "--duration", "2s");
        Assert.Equal(1, await strict.WaitForExitAsync());
        Assert.Contains("no device connected", strict.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Wss_CaFile_ConnectsAndAnswersCommands_WithoutTrustRefused()
    {
        using var temp = new TempDirectory("iot-sim-wss");
        var (pfx, ca) = await Protocol.SecureWebSocketTests.WriteCertificateAsync(temp);
        await using var broker = await BrokerFixture.StartAsync(
            "--Iot:Http:TlsPort=0", $"--Iot:Http:TlsCertificatePath={pfx}", "--Iot:Http:TlsCertificatePassword=secret");
        var url = broker.SecureWebSocketUri.ToString();
        using var api = new SimulatorApi(broker.HttpBaseUri);

        var prefix = SimulatorBroker.UniquePrefix("wss");
        await using (var simulator = SimulatorProcess.Start("--broker", url, "--ca-file", ca, "--devices", "2", "--prefix", prefix))
        {
            await simulator.WaitForAllConnectedAsync(2, TimeSpan.FromSeconds(20));
            var (status, ping) = await api.CommandAsync(prefix + "0001", "ping", "{}");
            Assert.Equal(200, status);
            Assert.True(ping.GetProperty("answer").GetProperty("pong").GetBoolean());
            Assert.Equal(0, await simulator.InterruptAsync());
        }

        // The system's trust store does not know the certificate: no device connects.
        await using var strict = SimulatorProcess.Start("--broker", url, "--devices", "1", "--prefix", SimulatorBroker.UniquePrefix("wss"), "--duration", "2s");
        Assert.Equal(1, await strict.WaitForExitAsync());
        Assert.Contains("no device connected", strict.Output, StringComparison.Ordinal);
    }
}
