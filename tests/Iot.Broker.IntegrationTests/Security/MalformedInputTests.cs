using System.Text;
using Iot.Broker.IntegrationTests.Protocol;
using Iot.TestUtilities;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Security;

/// <summary>
/// Malformed input is refused, never stored (issue 16, findings 5 and 7): Will QoS 3 and Will flags without a will
/// [MQTT-3.1.2-11/13/14], ill-formed UTF-8 and U+0000 in every string a client sends [MQTT-1.5.4-1/2]. Packets are
/// built byte by byte, since a well-behaved library cannot send them.
/// </summary>
[Trait("Category", "Integration")]
public sealed class MalformedInputTests(BrokerFixture broker) : IClassFixture<BrokerFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>The byte strings of the attack: a stray byte, an overlong '/', a surrogate, and U+0000.</summary>
    public static TheoryData<string> IllFormed => new() { "ff", "c0af", "eda080", "00" };

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    public async Task Connect_WillQos3_IsRefusedAsMalformed_AndNothingIsRetained(byte level)
    {
        var topic = TestIds.Topic("willqos3");
        var (client, reply) = await ConnectRawAsync(level, Packets.Connect(level, Utf8(Ids.Client("wq3")), flags: 0x04 | (3 << 3) | 0x20, will: (Utf8(topic), "gone"u8.ToArray())));
        await using (client)
        {
            AssertMalformed(level, reply);
            Assert.True(await client.WaitForCloseAsync(Timeout), "the broker did not close the connection");
        }

        Assert.Empty(Retained(topic));
    }

    [Theory]
    [InlineData(4, 0x20)] // Will Retain without the Will Flag
    [InlineData(4, 0x08)] // Will QoS 1 without the Will Flag
    [InlineData(5, 0x20)]
    [InlineData(5, 0x10)] // Will QoS 2 without the Will Flag
    public async Task Connect_WillBitsWithoutWillFlag_AreRefusedAsMalformed(byte level, byte flags)
    {
        var (client, reply) = await ConnectRawAsync(level, Packets.Connect(level, Utf8(Ids.Client("wbits")), flags: flags));
        await using (client)
        {
            AssertMalformed(level, reply);
        }
    }

    [Theory]
    [MemberData(nameof(IllFormed))]
    public async Task Publish311_IllFormedTopic_ClosesTheConnection_AndNothingIsStored(string hex)
    {
        var prefix = TestIds.Topic("utf8");
        var (client, reply) = await ConnectRawAsync(4, Packets.Connect(4, Ids.Client("u311")));
        await using (client)
        {
            Assert.Equal(MqttConnectReasonCode.Success, Assert.IsType<MqttConnAckPacket>(reply).ReasonCode);
            await client.SendRawAsync(Packets.Publish([.. Utf8(prefix + "/"), .. Convert.FromHexString(hex)], "v"u8.ToArray(), retain: true));
            Assert.True(await client.WaitForCloseAsync(Timeout), "the broker did not close the connection");
        }

        // The U+FFFD topic that a lenient decoder would have made holds nothing.
        Assert.Empty(Retained(prefix + "/#"));
    }

    [Theory]
    [MemberData(nameof(IllFormed))]
    public async Task Publish5_IllFormedTopic_GetsDisconnectMalformedPacket(string hex)
    {
        var prefix = TestIds.Topic("utf8v5");
        var (client, reply) = await ConnectRawAsync(5, Packets.Connect(5, Ids.Client("u5")));
        await using (client)
        {
            Assert.Equal(MqttConnectReasonCode.Success, Assert.IsType<MqttConnAckPacket>(reply).ReasonCode);
            await client.SendRawAsync(Packets.Publish([.. Utf8(prefix + "/"), .. Convert.FromHexString(hex)], "v"u8.ToArray(), retain: true, v5: true));
            var disconnect = await client.ReceiveAsync<MqttDisconnectPacket>(Timeout);
            Assert.Equal(MqttDisconnectReasonCode.MalformedPacket, disconnect?.ReasonCode);
        }

        Assert.Empty(Retained(prefix + "/#"));
    }

    [Theory]
    [MemberData(nameof(IllFormed))]
    public async Task Connect_IllFormedClientIdOrUsernameOrWillTopic_IsRefusedAsMalformed(string hex)
    {
        var bad = Convert.FromHexString(hex);
        byte[] clientId = [.. "c-"u8, .. bad];
        foreach (var level in new byte[] { 4, 5 })
        {
            foreach (var connect in new[]
            {
                Packets.Connect(level, clientId),
                Packets.Connect(level, Utf8(Ids.Client("un")), flags: 0x80, username: [.. "user"u8, .. bad]),
                Packets.Connect(level, Utf8(Ids.Client("wt")), flags: 0x04, will: ([.. "will/"u8, .. bad], "x"u8.ToArray())),
            })
            {
                var (client, reply) = await ConnectRawAsync(level, connect);
                await using (client)
                {
                    AssertMalformed(level, reply);
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(IllFormed))]
    public async Task Subscribe_IllFormedFilter_ClosesTheConnection(string hex)
    {
        foreach (var level in new byte[] { 4, 5 })
        {
            var (client, reply) = await ConnectRawAsync(level, Packets.Connect(level, Ids.Client("sub")));
            await using (client)
            {
                Assert.Equal(MqttConnectReasonCode.Success, Assert.IsType<MqttConnAckPacket>(reply).ReasonCode);
                await client.SendRawAsync(Packets.Subscribe([.. "a/"u8, .. Convert.FromHexString(hex)], level == 5));
                Assert.Null(await client.ReceiveAsync<MqttSubAckPacket>(Timeout));
            }
        }
    }

    [Theory]
    [MemberData(nameof(IllFormed))]
    public async Task Publish5_IllFormedUserPropertyOrContentTypeOrResponseTopic_GetsDisconnectMalformedPacket(string hex)
    {
        var bad = Convert.FromHexString(hex);
        byte[][] properties =
        [
            [0x26, .. Prefixed([.. "name"u8, .. bad]), .. Prefixed("value"u8)],
            [0x26, .. Prefixed("name"u8), .. Prefixed([.. "value"u8, .. bad])],
            [0x03, .. Prefixed([.. "text/"u8, .. bad])],
            [0x08, .. Prefixed([.. "reply/"u8, .. bad])],
        ];
        foreach (var property in properties)
        {
            var (client, reply) = await ConnectRawAsync(5, Packets.Connect(5, Ids.Client("prop")));
            await using (client)
            {
                Assert.Equal(MqttConnectReasonCode.Success, Assert.IsType<MqttConnAckPacket>(reply).ReasonCode);
                await client.SendRawAsync(Packets.Publish(Utf8(TestIds.Topic("prop")), "v"u8.ToArray(), retain: false, v5: true, properties: property));
                var disconnect = await client.ReceiveAsync<MqttDisconnectPacket>(Timeout);
                Assert.Equal(MqttDisconnectReasonCode.MalformedPacket, disconnect?.ReasonCode);
            }
        }
    }

    [Fact]
    public async Task WellFormedMultibyteTopic_StillWorks()
    {
        // U+FFFD itself, correctly encoded, and other non-ASCII text are valid topic characters.
        var topic = TestIds.Topic("ok") + "/température/\uFFFD/日本";
        var (client, reply) = await ConnectRawAsync(4, Packets.Connect(4, Ids.Client("ok")));
        await using (client)
        {
            Assert.Equal(MqttConnectReasonCode.Success, Assert.IsType<MqttConnAckPacket>(reply).ReasonCode);
            await client.SendRawAsync(Packets.Publish(Utf8(topic), "kept"u8.ToArray(), retain: true));
            await client.SendRawAsync([0xC0, 0x00]);
            Assert.IsType<MqttPingRespPacket>(await client.ReceiveAsync(Timeout));
        }

        Assert.Equal(topic, Assert.Single(Retained(topic)).Topic);
    }

    private static void AssertMalformed(byte level, MqttPacket? reply)
    {
        if (level == 5)
        {
            Assert.Equal(MqttConnectReasonCode.MalformedPacket, Assert.IsType<MqttConnAckPacket>(reply).ReasonCode);
        }
        else
        {
            // MQTT 3.1.1 has no return code for a malformed CONNECT: the connection is closed without CONNACK.
            Assert.Null(reply);
        }
    }

    private async Task<(RawMqttClient Client, MqttPacket? Reply)> ConnectRawAsync(byte level, byte[] connect)
    {
        var client = await RawMqttClient.ConnectTcpAsync(broker.MqttPort, level == 5 ? MqttProtocolVersion.V500 : MqttProtocolVersion.V311);
        await client.SendRawAsync(connect);
        return (client, await client.ReceiveAsync(Timeout));
    }

    /// <summary>The broker's retained messages matching <paramref name="filter"/> now (its own index, not a client's view).</summary>
    private List<Iot.Broker.Mqtt.BrokerMessage> Retained(string filter)
    {
        var matches = new List<Iot.Broker.Mqtt.BrokerMessage>();
        broker.App.Services.GetRequiredService<Iot.Broker.Mqtt.RetainedMessages>().Match(filter, matches);
        return matches;
    }

    private static byte[] Utf8(string value) => Encoding.UTF8.GetBytes(value);

    private static byte[] Prefixed(ReadOnlySpan<byte> value) => [(byte)(value.Length >> 8), (byte)value.Length, .. value];

    /// <summary>MQTT packets from raw bytes (§3.1, §3.3, §3.8), so that any string can be sent.</summary>
    private static class Packets
    {
        public static byte[] Connect(byte level, string clientId) => Connect(level, Utf8(clientId));

        public static byte[] Connect(byte level, byte[] clientId, byte flags = 0, (byte[] Topic, byte[] Payload)? will = null, byte[]? username = null)
        {
            var v5 = level == 5;
            byte[] body =
            [
                .. Prefixed("MQTT"u8), level, (byte)(flags | 0x02), 0x00, 0x1E,
                .. v5 ? [0x00] : Array.Empty<byte>(),
                .. Prefixed(clientId),
                .. will is { } w ? [.. v5 ? [0x00] : Array.Empty<byte>(), .. Prefixed(w.Topic), .. Prefixed(w.Payload)] : Array.Empty<byte>(),
                .. username is null ? Array.Empty<byte>() : Prefixed(username),
            ];
            return Frame(0x10, body);
        }

        public static byte[] Publish(byte[] topic, byte[] payload, bool retain, bool v5 = false, byte[]? properties = null)
        {
            properties ??= [];
            byte[] body = [.. Prefixed(topic), .. v5 ? [(byte)properties.Length, .. properties] : Array.Empty<byte>(), .. payload];
            return Frame((byte)(0x30 | (retain ? 1 : 0)), body);
        }

        public static byte[] Subscribe(byte[] filter, bool v5)
        {
            byte[] body = [0x00, 0x01, .. v5 ? [0x00] : Array.Empty<byte>(), .. Prefixed(filter), 0x01];
            return Frame(0x82, body);
        }

        private static byte[] Frame(byte header, byte[] body)
        {
            var length = new List<byte>();
            var remaining = body.Length;
            do
            {
                var b = (byte)(remaining % 128);
                remaining /= 128;
                length.Add(remaining > 0 ? (byte)(b | 0x80) : b);
            }
            while (remaining > 0);

            return [header, .. length, .. body];
        }
    }
}
