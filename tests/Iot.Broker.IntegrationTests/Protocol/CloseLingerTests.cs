using System.Buffers;
using Iot.Broker.Mqtt;
using Iot.TestUtilities;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Protocol;

/// <summary>
/// Issue 17: after the broker sent a DISCONNECT with a reason and closed, a client still writing got a connection
/// reset and never read the reason. The broker now closes as HTTP servers do (send side shut after the DISCONNECT,
/// input drained for <c>Iot:Mqtt:CloseLingerMilliseconds</c>), on every transport.
/// </summary>
[Trait("Category", "Integration")]
public sealed class CloseLingerTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    public static TheoryData<string> AllTransports => ["epoll", "socket", "kestrel"];

    public static TheoryData<string> LeanTransports => ["epoll", "socket"];

    [Theory]
    [MemberData(nameof(AllTransports))]
    public async Task ClientStillWritingAfterAnOversizedPacket_WritesOn_AndReadsPacketTooLarge(string transport)
    {
        await using var broker = await BrokerFixture.StartAsync($"--Iot:Mqtt:Transport={transport}", "--Iot:Mqtt:MaxPacketSize=1024");
        var raw = await ConnectAsync(broker, "linger");
        await using (raw)
        {
            // Every write succeeds: the broker reads and discards them instead of resetting the connection.
            Assert.Null(await WriteOversizedAndKeepWritingAsync(raw, TimeSpan.FromMilliseconds(500)));

            var disconnect = await raw.ReceiveAsync<MqttDisconnectPacket>(Wait);
            Assert.Equal(MqttDisconnectReasonCode.PacketTooLarge, disconnect?.ReasonCode);
            Assert.True(await raw.WaitForCloseAsync(Wait));
        }
    }

    [Theory]
    [MemberData(nameof(LeanTransports))]
    public async Task WithoutLinger_ClientStillWriting_IsReset(string transport)
    {
        // What the linger prevents (and what the test above would see without it).
        await using var broker = await BrokerFixture.StartAsync($"--Iot:Mqtt:Transport={transport}", "--Iot:Mqtt:MaxPacketSize=1024", "--Iot:Mqtt:CloseLingerMilliseconds=0");
        var raw = await ConnectAsync(broker, "nolinger");
        await using (raw)
        {
            Assert.NotNull(await WriteOversizedAndKeepWritingAsync(raw, Wait));
        }
    }

    [Theory]
    [MemberData(nameof(LeanTransports))]
    public async Task ClientThatNeverStopsWriting_IsClosedAfterTheLinger_AndCounted(string transport)
    {
        await using var broker = await BrokerFixture.StartAsync($"--Iot:Mqtt:Transport={transport}", "--Iot:Mqtt:MaxPacketSize=1024", "--Iot:Mqtt:CloseLingerMilliseconds=300");
        var metrics = broker.App.Services.GetRequiredService<BrokerMetrics>();
        var before = metrics.LimitHits(LimitKind.CloseLinger);
        var raw = await ConnectAsync(broker, "endless");
        await using (raw)
        {
            // Writes until the broker gives up on the drain and closes: then a write fails.
            Assert.NotNull(await WriteOversizedAndKeepWritingAsync(raw, TimeSpan.FromSeconds(30)));
        }

        await Eventually.WaitUntilAsync(() => metrics.LimitHits(LimitKind.CloseLinger) > before, Wait);
    }

    private static async Task<RawMqttClient> ConnectAsync(BrokerFixture broker, string prefix)
    {
        var (raw, _) = await RawMqttClient.ConnectAsync(broker.MqttPort, new MqttConnectPacket { ClientId = Ids.Client(prefix), CleanSession = true, KeepAlivePeriod = 30 });
        return raw;
    }

    /// <summary>
    /// Sends a PUBLISH larger than the maximum (the broker answers 0x95 at its fixed header and closes), then keeps
    /// writing 16 KiB every 10 ms for <paramref name="duration"/>, reading nothing, as a publisher in the middle of a
    /// burst does. Returns the first write error, or null when every write succeeded.
    /// </summary>
    private static async Task<IOException?> WriteOversizedAndKeepWritingAsync(RawMqttClient raw, TimeSpan duration)
    {
        var oversized = raw.Encode(new MqttPublishPacket { Topic = TestIds.Topic("linger"), Payload = new ReadOnlySequence<byte>(new byte[4000]) });
        var more = new byte[16 * 1024];
        var until = DateTime.UtcNow + duration;
        try
        {
            await raw.SendRawAsync(oversized);
            while (DateTime.UtcNow < until)
            {
                await Task.Delay(10);
                await raw.SendRawAsync(more);
            }
        }
        catch (IOException ex)
        {
            return ex;
        }

        return null;
    }
}
