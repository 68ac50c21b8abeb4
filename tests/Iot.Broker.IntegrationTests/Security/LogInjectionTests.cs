using Iot.Broker.IntegrationTests.Protocol;
using Iot.TestUtilities;
using MQTTnet.Packets;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Security;

/// <summary>
/// Issue 16, finding 8: a CONNECT whose protocol name held CR LF and ESC sequences was logged verbatim (a forged
/// <c>info:</c> line), and every refused connection was logged at Information. The broker's real console log is read
/// from a child process.
/// </summary>
[Collection(BrokerProcessCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class LogInjectionTests(ITestOutputHelper output)
{
    private const string Forged = "\r\ninfo: Iot.Broker.Hosting.BrokerHost[1001]\r\n      forged\u001b[2J\u001b[31m\u202e";

    [Fact]
    public async Task ClientValues_WithControlCharacters_AreEscapedInTheLog_AndRefusalsAreSummedUp()
    {
        using var dataDir = new TempDirectory("iot-log-injection");
        await using var broker = await BrokerProcess.StartAsync(dataDir.Path,
            "--Logging:LogLevel:Default=Information", "--Logging:LogLevel:Iot.Broker=Debug",
            "--Logging:Console:FormatterOptions:ColorBehavior=Disabled",
            "--Iot:Mqtt:RefusedConnectionsLogIntervalSeconds=2");

        // 1. A protocol name with CR LF, ESC and a bidi override: refused as an unknown protocol.
        await using (var raw = await RawMqttClient.ConnectTcpAsync(broker.MqttPort))
        {
            await raw.SendRawAsync(Connect(protocolName: "MQTT" + Forged, clientId: "p1"));
            await raw.WaitForCloseAsync(TimeSpan.FromSeconds(10));
        }

        // 2. A client id with the same characters: accepted (anonymous), logged at Debug when it connects.
        await using (var raw = await RawMqttClient.ConnectTcpAsync(broker.MqttPort))
        {
            await raw.SendRawAsync(Connect(protocolName: "MQTT", clientId: "evil" + Forged));
            Assert.IsType<MqttConnAckPacket>(await raw.ReceiveAsync(TimeSpan.FromSeconds(10)));
        }

        // 3. An unknown username: refused with bad credentials.
        await using (var raw = await RawMqttClient.ConnectTcpAsync(broker.MqttPort))
        {
            await raw.SendRawAsync(Connect(protocolName: "MQTT", clientId: "p3", username: "nobody" + Forged));
            await raw.ReceiveAsync(TimeSpan.FromSeconds(10));
        }

        await Eventually.WaitUntilAsync(
            () => broker.Output.Contains("UnsupportedProtocolVersion 1", StringComparison.Ordinal)
                && broker.Output.Contains("BadUserNameOrPassword 1", StringComparison.Ordinal)
                && broker.Output.Contains("Client evil", StringComparison.Ordinal),
            TimeSpan.FromSeconds(20), "the refusal summary and the client's connect line");
        var log = broker.Output;
        output.WriteLine(log);

        Assert.DoesNotContain(log, c => c is '\r' or '\u001b' or '\u202e');
        Assert.Contains("MQTT\\r\\ninfo: Iot.Broker.Hosting.BrokerHost[1001]\\r\\n      forged\\x1b[2J\\x1b[31m\\u202e", log, StringComparison.Ordinal);
        Assert.Contains("Client evil\\r\\ninfo:", log, StringComparison.Ordinal);
        // Output lines are indented by two (stderr: "! "); a raw CR or LF would have split the forged text into lines.
        var lines = log.Split('\n').Select(l => l.TrimStart()).ToArray();
        Assert.DoesNotContain(lines, l => l.StartsWith("forged", StringComparison.Ordinal));
        Assert.DoesNotContain("info: Iot.Broker.Hosting.BrokerHost[1001]", lines);

        // Each refusal at Debug (event 1012), their sum at Information (event 1171).
        Assert.Equal(2, lines.Count(l => l.StartsWith("dbug: Iot.Broker.Mqtt.Connection[1012]", StringComparison.Ordinal)));
        Assert.DoesNotContain(lines, l => l.StartsWith("info: Iot.Broker.Mqtt.Connection[1012]", StringComparison.Ordinal));
        var summaries = lines.Select((line, i) => (line, i))
            .Where(x => x.line.StartsWith("info: Iot.Broker.Mqtt.Connection[1171]", StringComparison.Ordinal))
            .Select(x => lines[x.i + 1]).ToList();
        Assert.InRange(summaries.Count, 1, 2);
        Assert.All(summaries, s => Assert.Contains("connections in the last 2 s", s, StringComparison.Ordinal));
    }

    /// <summary>
    /// Issue 20: <c>Logging:Console:FormatterName=json</c> gives one JSON object per line, as log shippers read them; a
    /// client id with CR LF stays inside its JSON string.
    /// </summary>
    [Fact]
    public async Task JsonConsoleLogs_OneObjectPerLine_ClientValuesInsideTheirStrings()
    {
        using var dataDir = new TempDirectory("iot-log-json");
        await using var broker = await BrokerProcess.StartAsync(dataDir.Path,
            "--Logging:Console:FormatterName=json", "--Logging:LogLevel:Default=Information", "--Logging:LogLevel:Iot.Broker=Debug");
        await using (var raw = await RawMqttClient.ConnectTcpAsync(broker.MqttPort))
        {
            await raw.SendRawAsync(Connect(protocolName: "MQTT", clientId: "json" + Forged));
            Assert.IsType<MqttConnAckPacket>(await raw.ReceiveAsync(TimeSpan.FromSeconds(10)));
        }

        await Eventually.WaitUntilAsync(() => broker.Output.Contains("Client json", StringComparison.Ordinal), TimeSpan.FromSeconds(20),
            "the client's connect line");
        var log = broker.Output;
        output.WriteLine(log);

        // Output lines are indented by two (stderr: "! "); every log line is a JSON object with the usual fields.
        var lines = log.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith('{')).ToList();
        Assert.NotEmpty(lines);
        Assert.DoesNotContain(log.Split('\n'), l => l.TrimStart().StartsWith("info:", StringComparison.Ordinal));
        var entries = lines.Select(l => System.Text.Json.JsonDocument.Parse(l)).ToList();
        Assert.All(entries, e =>
        {
            Assert.True(e.RootElement.TryGetProperty("LogLevel", out _));
            Assert.True(e.RootElement.TryGetProperty("Category", out _));
            Assert.True(e.RootElement.TryGetProperty("Message", out _));
        });
        var connected = entries.Single(e => e.RootElement.GetProperty("Message").GetString()!.Contains("Client json", StringComparison.Ordinal));
        Assert.Contains("forged", connected.RootElement.GetProperty("Message").GetString(), StringComparison.Ordinal);
    }

    /// <summary>An MQTT 3.1.1 CONNECT with any protocol name (MQTTnet's encoder writes only valid ones).</summary>
    private static byte[] Connect(string protocolName, string clientId, string? username = null) =>
        LoopbackMqtt.ConnectPacket(protocolName, clientId, username, username is null ? null : "wrong-password", keepAliveSeconds: 30);
}
