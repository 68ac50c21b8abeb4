using System.Text;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Protocol;

/// <summary>Limits and bad input: each ends with the right reason code for that client while the broker serves everyone else.</summary>
[Trait("Category", "Integration")]
public sealed class LimitsTests
{
    [Fact]
    public async Task OversizedPacket_DisconnectsWithPacketTooLarge_OthersKeepWorking()
    {
        await using var broker = await BrokerFixture.StartAsync("--Iot:Mqtt:MaxPacketSize=1024");
        var topic = TestIds.Topic("big");
        await using var bystander = await TestClient.ConnectAsync(broker, Ids.Client("bystander"));
        await bystander.SubscribeAsync(topic);

        var (raw, connack) = await RawMqttClient.ConnectAsync(broker.MqttPort, new MqttConnectPacket { ClientId = Ids.Client("big"), CleanSession = true, KeepAlivePeriod = 30 });
        Assert.Equal(1024u, connack.MaximumPacketSize);
        await using (raw)
        {
            await raw.SendAsync(new MqttPublishPacket { Topic = topic, Payload = new(new byte[4000]) });
            var disconnect = await raw.ReceiveAsync<MqttDisconnectPacket>(TimeSpan.FromSeconds(30));
            Assert.Equal(MqttDisconnectReasonCode.PacketTooLarge, disconnect?.ReasonCode);
            Assert.True(await raw.WaitForCloseAsync(TimeSpan.FromSeconds(30)));
        }

        await using var publisher = await TestClient.ConnectAsync(broker, Ids.Client("after"));
        await publisher.PublishAsync(topic, "still serving");
        Assert.Equal("still serving", (await bystander.ReceiveAsync()).ConvertPayloadToString());
    }

    [Fact]
    public async Task LyingRemainingLength_IsRejectedBeforeBuffering()
    {
        await using var broker = await BrokerFixture.StartAsync("--Iot:Mqtt:MaxPacketSize=1024");
        var (raw, _) = await RawMqttClient.ConnectAsync(broker.MqttPort, new MqttConnectPacket { ClientId = Ids.Client("liar"), CleanSession = true, KeepAlivePeriod = 30 });
        await using (raw)
        {
            // PUBLISH claiming 268 435 455 bytes, followed by nothing.
            await raw.SendRawAsync([0x30, 0xFF, 0xFF, 0xFF, 0x7F]);
            var disconnect = await raw.ReceiveAsync<MqttDisconnectPacket>(TimeSpan.FromSeconds(30));
            Assert.Equal(MqttDisconnectReasonCode.PacketTooLarge, disconnect?.ReasonCode);
        }
    }

    [Fact]
    public async Task MalformedPacket_DisconnectsWithMalformedPacket()
    {
        await using var broker = await BrokerFixture.StartAsync();
        var (raw, _) = await RawMqttClient.ConnectAsync(broker.MqttPort, new MqttConnectPacket { ClientId = Ids.Client("malformed"), CleanSession = true, KeepAlivePeriod = 30 });
        await using (raw)
        {
            // SUBSCRIBE whose topic filter length runs past the packet.
            await raw.SendRawAsync([0x82, 0x06, 0x00, 0x01, 0x00, 0x00, 0x40, 0x61]);
            var disconnect = await raw.ReceiveAsync<MqttDisconnectPacket>(TimeSpan.FromSeconds(30));
            Assert.Equal(MqttDisconnectReasonCode.MalformedPacket, disconnect?.ReasonCode);
            Assert.True(await raw.WaitForCloseAsync(TimeSpan.FromSeconds(30)));
        }

        await using var healthy = await TestClient.ConnectAsync(broker, Ids.Client("healthy"));
        Assert.True(healthy.Client.IsConnected);
    }

    [Theory]
    [InlineData(new byte[] { 0x62, 0x02, 0x00, 0x00 })] // PUBREL with packet id 0
    [InlineData(new byte[] { 0x82, 0x03, 0x00, 0x01, 0x00 })] // MQTT 5 SUBSCRIBE without a topic filter
    [InlineData(new byte[] { 0x32, 0x06, 0x00, 0x01, (byte)'a', 0x00, 0x00, 0x00 })] // QoS 1 PUBLISH with packet id 0
    public async Task PacketMissingARequiredPart_IsAProtocolError_AndTheConnectionIsReleased(byte[] packet)
    {
        await using var broker = await BrokerFixture.StartAsync();
        var (raw, _) = await RawMqttClient.ConnectAsync(broker.MqttPort, new MqttConnectPacket { ClientId = Ids.Client("noid"), CleanSession = true, KeepAlivePeriod = 0 });
        await using (raw)
        {
            await raw.SendRawAsync(packet);
            var disconnect = await raw.ReceiveAsync<MqttDisconnectPacket>(TimeSpan.FromSeconds(30));
            Assert.Equal(MqttDisconnectReasonCode.ProtocolError, disconnect?.ReasonCode);
            Assert.True(await raw.WaitForCloseAsync(TimeSpan.FromSeconds(30)));
        }

        using var http = new HttpClient { BaseAddress = broker.HttpBaseUri };
        await Eventually.WaitUntilAsync(
            async () => (await http.GetStringAsync("/metrics")).Contains("\niot_mqtt_connections 0\n", StringComparison.Ordinal),
            TimeSpan.FromSeconds(10), "the connection is released");
    }

    [Fact]
    public async Task RandomGarbageAfterConnect_NeverTakesTheBrokerDown()
    {
        await using var broker = await BrokerFixture.StartAsync("--Iot:Mqtt:MaxPacketSize=4096");
        var random = new Random(20261124);
        for (var i = 0; i < 300; i++)
        {
            var (raw, _) = await RawMqttClient.ConnectAsync(broker.MqttPort, new MqttConnectPacket { ClientId = Ids.Client("fuzz"), CleanSession = true, KeepAlivePeriod = 30 });
            await using (raw)
            {
                var garbage = new byte[random.Next(1, 64)];
                random.NextBytes(garbage);
                try
                {
                    await raw.SendRawAsync(garbage);
                }
                catch (IOException)
                {
                    // Closed by the broker already: fine.
                }
            }
        }

        var topic = TestIds.Topic("after-fuzz");
        await using var client = await TestClient.ConnectAsync(broker, Ids.Client("after-fuzz"));
        await client.SubscribeAsync(topic);
        await client.PublishAsync(topic, "alive");
        Assert.Equal("alive", (await client.ReceiveAsync()).ConvertPayloadToString());
    }

    [Fact]
    public async Task ReceiveMaximum_ClientThatExceedsIt_IsDisconnected()
    {
        await using var broker = await BrokerFixture.StartAsync("--Iot:Mqtt:ReceiveMaximum=3");
        var topic = TestIds.Topic("rxmax-in");

        // A persistent subscriber makes every QoS 1 publish wait for a durable commit before its PUBACK.
        await using (var persistent = await TestClient.ConnectAsync(broker, Ids.Client("rxmax-persist"), o => o.WithCleanStart(false).WithSessionExpiryInterval(300)))
        {
            await persistent.SubscribeAsync(topic);
        }

        var (raw, connack) = await RawMqttClient.ConnectAsync(broker.MqttPort, new MqttConnectPacket { ClientId = Ids.Client("rxmax-flood"), CleanSession = true, KeepAlivePeriod = 30 });
        Assert.Equal(3, connack.ReceiveMaximum);
        await using (raw)
        {
            var burst = Enumerable.Range(1, 50).Select(i => new MqttPublishPacket
            {
                Topic = topic,
                PacketIdentifier = (ushort)i,
                QualityOfServiceLevel = MqttQualityOfServiceLevel.AtLeastOnce,
                Payload = new(Encoding.UTF8.GetBytes("m")),
            });
            await raw.SendBurstAsync(burst);
            var disconnect = await raw.ReceiveAsync<MqttDisconnectPacket>(TimeSpan.FromSeconds(30));
            Assert.Equal(MqttDisconnectReasonCode.ReceiveMaximumExceeded, disconnect?.ReasonCode);
        }
    }

    [Fact]
    public async Task KeepAlive_SilentClientIsDisconnected()
    {
        await using var broker = await BrokerFixture.StartAsync();
        var (raw, _) = await RawMqttClient.ConnectAsync(broker.MqttPort, new MqttConnectPacket { ClientId = Ids.Client("silent"), CleanSession = true, KeepAlivePeriod = 1 });
        await using (raw)
        {
            var disconnect = await raw.ReceiveAsync<MqttDisconnectPacket>(TimeSpan.FromSeconds(6));
            Assert.Equal(MqttDisconnectReasonCode.KeepAliveTimeout, disconnect?.ReasonCode);
        }
    }

    [Fact]
    public async Task UnsupportedProtocolVersion_GetsConnAckRefusal()
    {
        await using var broker = await BrokerFixture.StartAsync();
        var raw = await RawMqttClient.ConnectTcpAsync(broker.MqttPort);
        await using (raw)
        {
            // CONNECT with protocol name MQTT and level 9.
            await raw.SendRawAsync([0x10, 0x0D, 0x00, 0x04, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', 0x09, 0x02, 0x00, 0x1E, 0x00, 0x01, (byte)'x']);
            var connack = await raw.ReceiveBytesAsync(4, TimeSpan.FromSeconds(30));
            Assert.Equal(new byte[] { 0x20, 0x02, 0x00, 0x01 }, connack);
            Assert.True(await raw.WaitForCloseAsync(TimeSpan.FromSeconds(30)));
        }
    }

    [Fact]
    public async Task QueueBound_OfflineSessionKeepsAtMostMaxQueuedMessages()
    {
        await using var broker = await BrokerFixture.StartAsync("--Iot:Mqtt:MaxQueuedMessages=5");
        var topic = TestIds.Topic("bound");
        var clientId = Ids.Client("bound");
        await using (var offline = await TestClient.ConnectAsync(broker, clientId, o => o.WithCleanStart(false).WithSessionExpiryInterval(300)))
        {
            await offline.SubscribeAsync(topic);
        }

        // The broker handles the DISCONNECT on its own time: publish only once the session is offline.
        using var http = new HttpClient { BaseAddress = broker.HttpBaseUri };
        await Eventually.WaitUntilAsync(
            async () => (await http.GetStringAsync("/metrics")).Contains("\niot_mqtt_connections 0\n", StringComparison.Ordinal),
            TimeSpan.FromSeconds(10), "the subscriber's connection has ended");
        await using var publisher = await TestClient.ConnectAsync(broker, Ids.Client("bound-pub"));
        for (var i = 0; i < 12; i++)
        {
            await publisher.PublishAsync(topic, i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        await using var back = await TestClient.ConnectAsync(broker, clientId, o => o.WithCleanStart(false).WithSessionExpiryInterval(300));
        // The five queued ones, each awaited with a generous deadline (a busy machine delays them, it drops none),
        // then nothing more: the sixth to twelfth were dropped.
        var got = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            got.Add((await back.ReceiveAsync(TimeSpan.FromSeconds(30))).ConvertPayloadToString());
        }

        Assert.Equal(["0", "1", "2", "3", "4"], got);
        Assert.Null(await back.TryReceiveAsync(TimeSpan.FromSeconds(1)));
        var metrics = await http.GetStringAsync("/metrics");
        Assert.Contains("iot_mqtt_messages_dropped_total{reason=\"queue_full\"} 7", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnonymousDisabled_ConnectIsRefusedAsNotAuthorized()
    {
        await using var broker = await BrokerFixture.StartAsync("--Iot:Security:AllowAnonymous=false");
        using var client = new MqttClientFactory().CreateMqttClient();
        var code = (await client.ConnectAsync(broker.CreateMqttClientOptions(Ids.Client("anon")))).ResultCode;

        Assert.Equal(MqttClientConnectResultCode.NotAuthorized, code);
        Assert.False(client.IsConnected);
    }
}
