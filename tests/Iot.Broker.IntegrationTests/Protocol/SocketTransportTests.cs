using System.Buffers;
using System.Text;
using Iot.Broker.Mqtt;
using Iot.TestUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Protocol;

/// <summary>
/// The lean transports of the plain MQTT listener (epoll, the default on Linux, and .NET sockets; ADR 0006, 0007) at their edges: packets cut at every
/// byte or packed many to a write, a packet larger than the receive buffer, half-closed and silent sockets, a
/// connection closed while it waits for the rest of a packet, a reader that stops reading, and shutdown.
/// </summary>
public sealed class SocketTransportTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    /// <summary>Both lean transports: the broker's own epoll loops (the default here) and .NET sockets.</summary>
    public static TheoryData<string> LeanTransports => ["epoll", "socket"];

    private static string Transport(string name) => $"--Iot:Mqtt:Transport={name}";

    [Fact]
    public void InProcessBrokers_RunWithInlineSocketCompletions_AsTheBrokerProcessDoes()
    {
        // Set for the test host by integration.runsettings; Program.cs sets it for the broker process.
        Assert.Equal("1", Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"));
    }

    [Theory]
    [MemberData(nameof(LeanTransports))]
    public async Task PacketsArrivingOneByteAtATime_AreReassembled(string transport)
    {
        await using var broker = await BrokerFixture.StartAsync(Transport(transport));
        var topic = TestIds.Topic("bytes");
        await using var subscriber = await TestClient.ConnectAsync(broker, Ids.Client("bytes-sub"));
        await subscriber.SubscribeAsync(topic);

        await using var raw = await RawMqttClient.ConnectTcpAsync(broker.MqttPort);
        var connect = raw.Encode(new MqttConnectPacket { ClientId = Ids.Client("bytes"), CleanSession = true, KeepAlivePeriod = 60 });
        var publish = raw.Encode(new MqttPublishPacket
        {
            Topic = topic,
            Payload = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes("one byte at a time")),
            QualityOfServiceLevel = MqttQualityOfServiceLevel.AtLeastOnce,
            PacketIdentifier = 7,
        });
        foreach (var b in connect.Concat(publish))
        {
            await raw.SendRawAsync([b]);
            await Task.Delay(2);
        }

        Assert.IsType<MqttConnAckPacket>(await raw.ReceiveAsync(Wait));
        var ack = await raw.ReceiveAsync<MqttPubAckPacket>(Wait);
        Assert.Equal((ushort)7, ack?.PacketIdentifier);
        Assert.Equal("one byte at a time", (await subscriber.ReceiveAsync(Wait)).ConvertPayloadToString());
    }

    [Theory]
    [MemberData(nameof(LeanTransports))]
    public async Task PacketMuchLargerThanTheReceiveBuffer_ArrivesWhole(string transport)
    {
        await using var broker = await BrokerFixture.StartAsync(Transport(transport));
        var topic = TestIds.Topic("large");
        await using var subscriber = await TestClient.ConnectAsync(broker, Ids.Client("large-sub"));
        await subscriber.SubscribeAsync(topic);
        var (raw, _) = await RawMqttClient.ConnectAsync(broker.MqttPort, new MqttConnectPacket { ClientId = Ids.Client("large"), CleanSession = true });
        await using (raw)
        {
            var payload = new byte[900_000];
            new Random(8).NextBytes(payload);
            var bytes = raw.Encode(new MqttPublishPacket
            {
                Topic = topic,
                Payload = new ReadOnlySequence<byte>(payload),
                QualityOfServiceLevel = MqttQualityOfServiceLevel.AtLeastOnce,
                PacketIdentifier = 1,
            });

            // In uneven pieces, so that packet boundaries and buffer ends never line up.
            for (var offset = 0; offset < bytes.Length; offset += 7_777)
            {
                await raw.SendRawAsync(bytes[offset..Math.Min(offset + 7_777, bytes.Length)]);
            }

            Assert.Equal((ushort)1, (await raw.ReceiveAsync<MqttPubAckPacket>(Wait))?.PacketIdentifier);
            var received = await subscriber.ReceiveAsync(Wait);
            Assert.Equal(payload, received.Payload.ToArray());
        }
    }

    [Theory]
    [MemberData(nameof(LeanTransports))]
    public async Task ManyPacketsInOneWrite_AreAllAcknowledgedInOrder(string transport)
    {
        await using var broker = await BrokerFixture.StartAsync(Transport(transport));
        var topic = TestIds.Topic("burst");
        var (raw, _) = await RawMqttClient.ConnectAsync(broker.MqttPort, new MqttConnectPacket { ClientId = Ids.Client("burst"), CleanSession = true });
        await using (raw)
        {
            const int Count = 100;
            await raw.SendBurstAsync(Enumerable.Range(1, Count).Select(i => new MqttPublishPacket
            {
                Topic = topic,
                Payload = new ReadOnlySequence<byte>(BitConverter.GetBytes(i)),
                QualityOfServiceLevel = MqttQualityOfServiceLevel.AtLeastOnce,
                PacketIdentifier = (ushort)i,
            }));

            for (var i = 1; i <= Count; i++)
            {
                Assert.Equal((ushort)i, (await raw.ReceiveAsync<MqttPubAckPacket>(Wait))?.PacketIdentifier);
            }
        }
    }

    [Theory]
    [MemberData(nameof(LeanTransports))]
    public async Task HalfClosedClient_IsDisconnected_AndItsWillIsPublished(string transport)
    {
        await using var broker = await BrokerFixture.StartAsync(Transport(transport));
        var willTopic = TestIds.Topic("will");
        await using var watcher = await TestClient.ConnectAsync(broker, Ids.Client("watcher"));
        await watcher.SubscribeAsync(willTopic);
        var (raw, _) = await RawMqttClient.ConnectAsync(broker.MqttPort, new MqttConnectPacket
        {
            ClientId = Ids.Client("halfclosed"),
            CleanSession = true,
            WillFlag = true,
            WillTopic = willTopic,
            WillMessage = Encoding.UTF8.GetBytes("gone"),
        });
        await using (raw)
        {
            raw.ShutdownSend();
            Assert.True(await raw.WaitForCloseAsync(Wait), "the broker closes its side too");
            Assert.Equal("gone", (await watcher.ReceiveAsync(Wait)).ConvertPayloadToString());
        }
    }

    [Theory]
    [MemberData(nameof(LeanTransports))]
    public async Task PacketsAndFinInOneWrite_PacketsAreHandled_ThenTheConnectionEnds(string transport)
    {
        // The FIN arrives with the data (one readiness edge): a short read must not park the connection for good.
        await using var broker = await BrokerFixture.StartAsync(Transport(transport));
        var topic = TestIds.Topic("fin");
        var willTopic = TestIds.Topic("fin-will");
        await using var watcher = await TestClient.ConnectAsync(broker, Ids.Client("fin-watcher"));
        await watcher.SubscribeAsync(topic);
        await watcher.SubscribeAsync(willTopic);
        using var http = new HttpClient { BaseAddress = broker.HttpBaseUri };
        for (var i = 0; i < 20; i++)
        {
            await using var raw = await RawMqttClient.ConnectTcpAsync(broker.MqttPort);
            var bytes = raw.Encode(new MqttConnectPacket
            {
                ClientId = Ids.Client($"fin{i}"),
                CleanSession = true,
                WillFlag = true,
                WillTopic = willTopic,
                WillMessage = Encoding.UTF8.GetBytes($"will {i}"),
            }).Concat(raw.Encode(new MqttPublishPacket { Topic = topic, Payload = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes($"last words {i}")) })).ToArray();
            await raw.SendRawAsync(bytes);
            raw.ShutdownSend();

            var got = new[] { (await watcher.ReceiveAsync(Wait)).ConvertPayloadToString(), (await watcher.ReceiveAsync(Wait)).ConvertPayloadToString() };
            Assert.Equal([$"last words {i}", $"will {i}"], got.Order(StringComparer.Ordinal));
            Assert.True(await raw.WaitForCloseAsync(Wait), "the broker closes its side too");
        }

        await Eventually.WaitUntilAsync(
            async () => (await http.GetStringAsync("/metrics")).Contains("\niot_mqtt_connections 1\n", StringComparison.Ordinal),
            Wait, "only the watcher is left");
    }

    [Theory]
    [MemberData(nameof(LeanTransports))]
    public async Task SocketThatNeverSendsConnect_IsClosedAfterTheConnectTimeout(string transport)
    {
        await using var broker = await BrokerFixture.StartAsync(Transport(transport), "--Iot:Mqtt:ConnectTimeoutSeconds=1");
        await using var raw = await RawMqttClient.ConnectTcpAsync(broker.MqttPort);
        Assert.True(await raw.WaitForCloseAsync(TimeSpan.FromSeconds(10)));
    }

    [Theory]
    [MemberData(nameof(LeanTransports))]
    public async Task TakeoverWhileTheOldConnectionWaitsForTheRestOfAPacket_ClosesItWithSessionTakenOver(string transport)
    {
        await using var broker = await BrokerFixture.StartAsync(Transport(transport));
        var clientId = Ids.Client("midpacket");
        var (old, _) = await RawMqttClient.ConnectAsync(broker.MqttPort, new MqttConnectPacket { ClientId = clientId, CleanSession = true });
        await using (old)
        {
            var publish = old.Encode(new MqttPublishPacket { Topic = TestIds.Topic("half"), Payload = new ReadOnlySequence<byte>(new byte[10_000]) });
            await old.SendRawAsync(publish[..5_000]);
            await Task.Delay(100);

            await using var replacement = await TestClient.ConnectAsync(broker, clientId);
            var disconnect = await old.ReceiveAsync<MqttDisconnectPacket>(Wait);
            Assert.Equal(MqttDisconnectReasonCode.SessionTakenOver, disconnect?.ReasonCode);
            Assert.True(await old.WaitForCloseAsync(Wait));
            Assert.True(replacement.Client.IsConnected);
        }
    }

    [Theory]
    [MemberData(nameof(LeanTransports))]
    public async Task ReaderThatStopsReading_DoesNotHoldUpOtherSubscribers(string transport)
    {
        await using var broker = await BrokerFixture.StartAsync(Transport(transport), "--Iot:Mqtt:MaxQueuedMessages=100");
        var topic = TestIds.Topic("slow");
        var (stalled, _) = await RawMqttClient.ConnectAsync(broker.MqttPort, new MqttConnectPacket { ClientId = Ids.Client("stalled"), CleanSession = true });
        await using (stalled)
        {
            await stalled.SendAsync(new MqttSubscribePacket { PacketIdentifier = 1, TopicFilters = [new MqttTopicFilter { Topic = topic }] });
            Assert.IsType<MqttSubAckPacket>(await stalled.ReceiveAsync(Wait));

            // From here on the stalled client reads nothing: its socket buffers fill, then its queue.
            await using var healthy = await TestClient.ConnectAsync(broker, Ids.Client("healthy"));
            await healthy.SubscribeAsync(topic, MqttQualityOfServiceLevel.AtMostOnce);
            await using var publisher = await TestClient.ConnectAsync(broker, Ids.Client("slow-pub"));
            const int Count = 3_000;
            var payload = new string('x', 10_000); // 30 MB in all: more than the stalled socket's buffers hold
            // In steps the healthy subscriber keeps up with (its queue never nears the bound of 100), while the stalled
            // one falls ever further behind: every message must still reach the healthy one.
            for (var sent = 0; sent < Count; sent += 50)
            {
                for (var i = 0; i < 50; i++)
                {
                    await publisher.PublishAsync(topic, payload, MqttQualityOfServiceLevel.AtMostOnce);
                }

                for (var i = 0; i < 50; i++)
                {
                    await healthy.ReceiveAsync(Wait);
                }
            }

            using var http = new HttpClient { BaseAddress = broker.HttpBaseUri };
            var metrics = await http.GetStringAsync("/metrics");
            Assert.Matches("iot_mqtt_messages_dropped_total\\{reason=\"queue_full\"\\} [1-9]", metrics);
        }

        using var after = new HttpClient { BaseAddress = broker.HttpBaseUri };
        await Eventually.WaitUntilAsync(
            async () => (await after.GetStringAsync("/metrics")).Contains("\niot_mqtt_connections 0\n", StringComparison.Ordinal),
            Wait, "every connection ends, the stalled one included");
    }

    [Theory]
    [MemberData(nameof(LeanTransports))]
    public async Task BrokerShutdown_SendsServerShuttingDown_ThenCloses(string transport)
    {
        await using var broker = await BrokerFixture.StartAsync(Transport(transport));
        var (raw, _) = await RawMqttClient.ConnectAsync(broker.MqttPort, new MqttConnectPacket { ClientId = Ids.Client("shutdown"), CleanSession = true });
        await using (raw)
        {
            var stopping = broker.App.StopAsync();
            var disconnect = await raw.ReceiveAsync<MqttDisconnectPacket>(Wait);
            Assert.Equal(MqttDisconnectReasonCode.ServerShuttingDown, disconnect?.ReasonCode);
            Assert.True(await raw.WaitForCloseAsync(Wait));
            await stopping.WaitAsync(Wait);
        }
    }

    [Fact]
    public async Task DefaultTransport_OnLinux_IsTheEpollLoops()
    {
        await using var broker = await BrokerFixture.StartAsync();
        Assert.Equal("epoll", broker.App.Services.GetRequiredService<IOptions<MqttOptions>>().Value.EffectiveTransport);
        var threads = ThreadNames();
        Assert.Contains("iot-accept", threads);
        Assert.Contains("iot-epoll-0", threads);
    }

    [Fact]
    public async Task EpollNice_IsTheNiceValueOfTheLoopThreads_AndItsRangeIsChecked()
    {
        // Other tests' brokers in this process run their loops at nice 0; only this one's run at 7.
        await using var broker = await BrokerFixture.StartAsync("--Iot:Mqtt:Transport=epoll", "--Iot:Mqtt:EpollThreads=2", "--Iot:Mqtt:EpollNice=7");
        var loops = await Eventually.WaitForAsync(
            () => Task.FromResult(ProcessInspection.Threads().Where(t => t.Name.StartsWith("iot-epoll-", StringComparison.Ordinal) && t.Nice == 7).ToList()),
            found => found.Count >= 2, TimeSpan.FromSeconds(10), "two loops at nice 7");
        Assert.Contains(loops, t => t.Name == "iot-epoll-0");
        Assert.Contains(loops, t => t.Name == "iot-epoll-1");
        Assert.DoesNotContain(ProcessInspection.Threads(), t => t.Name == "iot-accept" && t.Nice == 7);

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => BrokerFixture.StartAsync("--Iot:Mqtt:EpollNice=20"));
        Assert.Contains("EpollNice", error.Message, StringComparison.Ordinal);
    }

    /// <summary>Names of this process's threads; other tests' threads may end while they are listed.</summary>
    private static List<string> ThreadNames() => [.. ProcessInspection.Threads().Select(t => t.Name)];

    [Theory]
    [MemberData(nameof(LeanTransports))]
    public async Task ManyConnectionsOpenedAndClosedInWaves_EveryOneIsServed_AndNoneIsLeft(string transport)
    {
        // More connections at once than the epoll engine's first slot table holds (1 024), then their slots reused.
        // All come from 127.0.0.1, faster than the default connect rate per address allows.
        await using var broker = await BrokerFixture.StartAsync(Transport(transport), "--Iot:Mqtt:ConnectRatePerAddress=1000000");
        using var http = new HttpClient { BaseAddress = broker.HttpBaseUri };
        for (var wave = 0; wave < 2; wave++)
        {
            var clients = await Task.WhenAll(Enumerable.Range(0, 1_500).Select(async i =>
            {
                var (raw, connAck) = await RawMqttClient.ConnectAsync(broker.MqttPort, new MqttConnectPacket { ClientId = Ids.Client($"wave{wave}-{i}"), CleanSession = true });
                Assert.Equal(MqttConnectReasonCode.Success, connAck.ReasonCode);
                return raw;
            }));
            await Task.WhenAll(clients.Select(async raw =>
            {
                await raw.SendAsync(MqttPingReqPacket.Instance);
                Assert.NotNull(await raw.ReceiveAsync<MqttPingRespPacket>(Wait));
            }));
            foreach (var raw in clients)
            {
                await raw.DisposeAsync();
            }

            await Eventually.WaitUntilAsync(
                async () => (await http.GetStringAsync("/metrics")).Contains("\niot_mqtt_connections 0\n", StringComparison.Ordinal),
                TimeSpan.FromSeconds(30), $"every connection of wave {wave} has ended");
        }

        var topic = TestIds.Topic("after-waves");
        await using var subscriber = await TestClient.ConnectAsync(broker, Ids.Client("after-sub"));
        await subscriber.SubscribeAsync(topic);
        await using var publisher = await TestClient.ConnectAsync(broker, Ids.Client("after-pub"));
        await publisher.PublishAsync(topic, "still served");
        Assert.Equal("still served", (await subscriber.ReceiveAsync(Wait)).ConvertPayloadToString());
    }

    [Fact]
    public async Task KestrelTransport_ServesThePlainListener()
    {
        await using var broker = await BrokerFixture.StartAsync("--Iot:Mqtt:Transport=kestrel");
        var topic = TestIds.Topic("kestrel");
        await using var subscriber = await TestClient.ConnectAsync(broker, Ids.Client("k-sub"));
        await subscriber.SubscribeAsync(topic);
        await using var publisher = await TestClient.ConnectAsync(broker, Ids.Client("k-pub"));
        await publisher.PublishAsync(topic, "through kestrel");
        Assert.Equal("through kestrel", (await subscriber.ReceiveAsync(Wait)).ConvertPayloadToString());
    }

    [Fact]
    public async Task UnknownTransport_StopsTheBrokerAtStartWithTheSettingNamed()
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => BrokerFixture.StartAsync("--Iot:Mqtt:Transport=iouring"));
        Assert.Contains("Iot:Mqtt:Transport", error.Message, StringComparison.Ordinal);
    }
}
