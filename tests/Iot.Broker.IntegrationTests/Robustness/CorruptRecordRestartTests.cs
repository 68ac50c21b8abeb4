using System.Text;
using Iot.Broker.IntegrationTests.Protocol;
using Iot.TestUtilities;
using Microsoft.Data.Sqlite;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Robustness;

/// <summary>
/// Issue 16, finding 5, through a real broker process restarted in the middle: a Will QoS 3 is refused and can no
/// longer replace a retained value; a corrupt record written straight into any store between good ones costs only
/// itself at the next start, and the start-up log names it.
/// </summary>
[Collection(BrokerProcessCollectionDefinition.Name)]
[Trait("Category", "Integration")]
[Trait("Category", "Slow")]
public sealed class CorruptRecordRestartTests(ITestOutputHelper output)
{
    private const int RetainedCount = 20;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task WillQos3_IsRefusedByRawConnect_AndEveryRetainedValueSurvivesKillAndRestart()
    {
        using var dataDir = new TempDirectory("iot-willqos3");
        var prefix = TestIds.Topic("willqos3");
        var broker = await BrokerProcess.StartAsync(dataDir.Path);
        try
        {
            await PublishRetainedAsync(broker.MqttPort, Enumerable.Range(0, RetainedCount).Select(i => ($"{prefix}/dev/{i}", $"v{i}")));

            // The attack: a CONNECT whose will (QoS 3, retained) targets a topic that holds a good retained value.
            foreach (var version in new[] { MqttProtocolVersion.V311, MqttProtocolVersion.V500 })
            {
                await using var raw = await RawMqttClient.ConnectTcpAsync(broker.MqttPort, version);
                var level = version == MqttProtocolVersion.V500 ? (byte)5 : (byte)4;
                await raw.SendRawAsync(WillQos3Connect(level, TestIds.ClientId("evil"), $"{prefix}/dev/0"));
                var reply = await raw.ReceiveAsync(TimeSpan.FromSeconds(10));
                if (level == 5)
                {
                    Assert.Equal(MqttConnectReasonCode.MalformedPacket, Assert.IsType<MqttConnAckPacket>(reply).ReasonCode);
                }
                else
                {
                    Assert.Null(reply); // MQTT 3.1.1: closed without CONNACK
                }
            }

            await broker.KillAsync();
            output.WriteLine("First run:\n" + broker.Output);
            await broker.DisposeAsync();
            broker = await BrokerProcess.StartAsync(dataDir.Path);

            var retained = await ReadRetainedAsync(broker.MqttPort, prefix + "/#", RetainedCount);
            Assert.Equal(Enumerable.Range(0, RetainedCount).ToDictionary(i => $"{prefix}/dev/{i}", i => $"v{i}"), retained);
            await broker.WaitForOutputAsync("skipped 0 corrupt records", Timeout);
        }
        catch
        {
            output.WriteLine("Broker output:\n" + broker.Output);
            throw;
        }
        finally
        {
            await broker.DisposeAsync();
        }
    }

    [Fact]
    public async Task CorruptRowsWrittenIntoEveryStore_CostOnlyThemselves_AndStartupNamesThem()
    {
        using var dataDir = new TempDirectory("iot-corrupt");
        var prefix = TestIds.Topic("corrupt");
        var broker = await BrokerProcess.StartAsync(dataDir.Path);
        try
        {
            await PublishRetainedAsync(broker.MqttPort, [($"{prefix}/a", "A"), ($"{prefix}/c", "C"), ($"{prefix}/e", "E")]);
            Assert.Equal(0, await broker.StopAsync());
            await broker.DisposeAsync();

            // Bad records between the good ones, straight into the files.
            byte[] goodRecord;
            using (var mqtt = Open(dataDir.Combine("mqtt.db")))
            {
                goodRecord = (byte[])Scalar(mqtt, "SELECT message FROM retained WHERE topic = $t", ("$t", $"{prefix}/c"))!;
                var qos3 = (byte[])goodRecord.Clone();
                qos3[2] = 3; // the QoS byte; the CRC no longer matches either
                Execute(mqtt, "INSERT INTO retained(topic, message) VALUES ($t, $m)", ("$t", $"{prefix}/b"), ("$m", qos3));
                Execute(mqtt, "INSERT INTO retained(topic, message) VALUES ($t, $m)", ("$t", $"{prefix}/d"), ("$m", "garbage"u8.ToArray()));
            }

            using (var identities = Open(dataDir.Combine("identities.db")))
            {
                Execute(identities, "INSERT INTO identities(id, role, enabled, created_at, updated_at) VALUES ('wizard-1', 'Wizard', 1, 0, 0)");
            }

            using (var routing = Open(dataDir.Combine("routing.db")))
            {
                Execute(routing, "INSERT INTO routes(name, definition) VALUES ('broken-route', '{not json')");
                Execute(routing, "INSERT INTO subscriptions(name, definition) VALUES ('broken-sub', '[1,2')");
            }

            using (var queues = Open(dataDir.Combine("queues.db")))
            {
                Execute(queues, "INSERT INTO queues(name, definition) VALUES ('broken-queue', '{\"name\":')");
            }

            var badStream = Directory.CreateDirectory(dataDir.Combine("streams", "broken-stream")).FullName;
            await File.WriteAllTextAsync(Path.Combine(badStream, "stream.json"), "{\"name\": ");

            broker = await BrokerProcess.StartAsync(dataDir.Path);
            var retained = await ReadRetainedAsync(broker.MqttPort, prefix + "/#", 3);
            Assert.Equal(new Dictionary<string, string> { [$"{prefix}/a"] = "A", [$"{prefix}/c"] = "C", [$"{prefix}/e"] = "E" }, retained);

            var log = broker.Output;
            Assert.Contains($"Skipped the corrupt retained message of topic {prefix}/b", log, StringComparison.Ordinal);
            Assert.Contains($"Skipped the corrupt retained message of topic {prefix}/d", log, StringComparison.Ordinal);
            Assert.Contains("skipped 2 corrupt records", log, StringComparison.Ordinal);
            Assert.Contains("skipped the unreadable row of identity wizard-1 (unknown role 'Wizard')", log, StringComparison.Ordinal);
            Assert.Contains("skipped the unreadable row broken-route of table routes", log, StringComparison.Ordinal);
            Assert.Contains("skipped the unreadable row broken-sub of table subscriptions", log, StringComparison.Ordinal);
            Assert.Contains("skipped the unreadable row broken-queue of table queues", log, StringComparison.Ordinal);
            Assert.Contains("broken-stream", log, StringComparison.Ordinal);
        }
        catch
        {
            output.WriteLine("Broker output:\n" + broker.Output);
            throw;
        }
        finally
        {
            await broker.DisposeAsync();
        }
    }

    private static async Task PublishRetainedAsync(int port, IEnumerable<(string Topic, string Value)> values)
    {
        using var publisher = new MqttClientFactory().CreateMqttClient();
        await publisher.ConnectAsync(Options(port, TestIds.ClientId("rpub")));
        foreach (var (topic, value) in values)
        {
            var result = await publisher.PublishAsync(new MqttApplicationMessageBuilder()
                .WithTopic(topic).WithPayload(value).WithRetainFlag().WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            Assert.True(result.IsSuccess, $"{topic}: {result.ReasonCode}");
        }

        await publisher.DisconnectAsync();
    }

    /// <summary>The retained messages under <paramref name="filter"/>, waiting until <paramref name="expected"/> came.</summary>
    private static async Task<Dictionary<string, string>> ReadRetainedAsync(int port, string filter, int expected)
    {
        var received = new Dictionary<string, string>();
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscriber = new MqttClientFactory().CreateMqttClient();
        subscriber.ApplicationMessageReceivedAsync += e =>
        {
            lock (received)
            {
                received[e.ApplicationMessage.Topic] = e.ApplicationMessage.ConvertPayloadToString();
                if (received.Count >= expected)
                {
                    all.TrySetResult();
                }
            }

            return Task.CompletedTask;
        };
        await subscriber.ConnectAsync(Options(port, TestIds.ClientId("rsub")));
        await subscriber.SubscribeAsync(filter, MqttQualityOfServiceLevel.AtLeastOnce);
        try
        {
            await all.Task.WaitAsync(Timeout);
        }
        catch (TimeoutException)
        {
            // Fall through: the assertion on the result says what is missing.
        }

        // One more round trip: anything beyond the expected count has arrived by then too.
        await subscriber.PingAsync();
        await subscriber.DisconnectAsync();
        lock (received)
        {
            return new Dictionary<string, string>(received);
        }
    }

    private static MqttClientOptions Options(int port, string clientId) => new MqttClientOptionsBuilder()
        .WithTcpServer(BrokerFixture.Host, port)
        .WithClientId(clientId)
        .WithProtocolVersion(MqttProtocolVersion.V500)
        .WithTimeout(TimeSpan.FromSeconds(10))
        .Build();

    /// <summary>A CONNECT with Will Flag, Will Retain and Will QoS 3, which no client library will send.</summary>
    private static byte[] WillQos3Connect(byte level, string clientId, string willTopic)
    {
        var v5 = level == 5;
        byte[] body =
        [
            .. Prefixed("MQTT"u8), level, 0x02 | 0x04 | (3 << 3) | 0x20, 0x00, 0x1E,
            .. v5 ? [0x00] : Array.Empty<byte>(),
            .. Prefixed(Encoding.UTF8.GetBytes(clientId)),
            .. v5 ? [0x00] : Array.Empty<byte>(),
            .. Prefixed(Encoding.UTF8.GetBytes(willTopic)),
            .. Prefixed("evil"u8),
        ];
        return [0x10, (byte)body.Length, .. body];
    }

    private static byte[] Prefixed(ReadOnlySpan<byte> value) => [(byte)(value.Length >> 8), (byte)value.Length, .. value];

    private static SqliteConnection Open(string path)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        connection.Open();
        return connection;
    }

    private static void Execute(SqliteConnection connection, string sql, params (string Name, object Value)[] parameters)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql, params (string Name, object Value)[] parameters)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return command.ExecuteScalar();
    }
}
