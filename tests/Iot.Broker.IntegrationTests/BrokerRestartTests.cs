using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests;

/// <summary>The durability promise: a <c>kill -9</c> loses nothing that was acknowledged (persistent sessions).</summary>
[Collection(BrokerProcessCollectionDefinition.Name)]
[Trait("Category", "Integration")]
[Trait("Category", "Slow")]
public sealed class BrokerRestartTests(ITestOutputHelper output)
{
    private const int MessageCount = 200;

    [Fact]
    public async Task PersistentSession_BrokerKilledAfterAcks_ReceivesAllQueuedInOrderAfterRestart()
    {
        using var dataDir = new TempDirectory("iot-restart");
        var topic = TestIds.Topic("restart");
        var subscriberId = TestIds.ClientId("rsub");
        var broker = await BrokerProcess.StartAsync(dataDir.Path);
        try
        {
            // 1. A persistent MQTT 5 session subscribes at QoS 1 and goes away.
            using (var subscriber = new MqttClientFactory().CreateMqttClient())
            {
                await subscriber.ConnectAsync(SubscriberOptions(broker.MqttPort, subscriberId));
                var granted = await subscriber.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
                    .WithTopicFilter(topic, MqttQualityOfServiceLevel.AtLeastOnce)
                    .Build());
                Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, Assert.Single(granted.Items).ResultCode);
                await subscriber.DisconnectAsync();
            }

            // 2. 200 QoS 1 messages, each acknowledged by the broker.
            using (var publisher = new MqttClientFactory().CreateMqttClient())
            {
                await publisher.ConnectAsync(new MqttClientOptionsBuilder()
                    .WithTcpServer(BrokerFixture.Host, broker.MqttPort)
                    .WithClientId(TestIds.ClientId("rpub"))
                    .WithProtocolVersion(MqttProtocolVersion.V500)
                    .WithTimeout(TimeSpan.FromSeconds(10))
                    .Build());
                for (var i = 0; i < MessageCount; i++)
                {
                    var result = await publisher.PublishAsync(new MqttApplicationMessageBuilder()
                        .WithTopic(topic)
                        .WithPayload(Payload(i))
                        .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                        .Build());
                    Assert.True(result.IsSuccess, $"message {i}: PUBACK reason {result.ReasonCode} {result.ReasonString}");
                }
            }

            // 3. kill -9, then a new broker process on the same data directory.
            await broker.KillAsync();
            output.WriteLine("First broker run:\n" + broker.Output);
            await broker.DisposeAsync();
            broker = await BrokerProcess.StartAsync(dataDir.Path);

            // 4. The session comes back with everything that was acknowledged, in order.
            var received = new List<string>();
            var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var resumed = new MqttClientFactory().CreateMqttClient();
            resumed.ApplicationMessageReceivedAsync += e =>
            {
                lock (received)
                {
                    received.Add(e.ApplicationMessage.ConvertPayloadToString());
                    if (received.Count >= MessageCount)
                    {
                        all.TrySetResult();
                    }
                }

                return Task.CompletedTask;
            };

            var connected = await resumed.ConnectAsync(SubscriberOptions(broker.MqttPort, subscriberId));
            Assert.True(connected.IsSessionPresent, "the persistent session did not survive the restart (CONNACK session present = 0)");
            try
            {
                await all.Task.WaitAsync(TimeSpan.FromSeconds(60));
            }
            catch (TimeoutException)
            {
                lock (received)
                {
                    Assert.Fail($"received {received.Count} of {MessageCount} messages after the restart: [{string.Join(", ", received.Take(20))}...]");
                }
            }

            lock (received)
            {
                Assert.Equal(Enumerable.Range(0, MessageCount).Select(Payload), received);
            }

            await resumed.DisconnectAsync();
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
    public async Task RetainedMessage_AcknowledgedBeforeKill_IsRetainedAfterRestart()
    {
        using var dataDir = new TempDirectory("iot-restart-retained");
        var topic = TestIds.Topic("restart-retained");
        var broker = await BrokerProcess.StartAsync(dataDir.Path);
        try
        {
            using (var publisher = new MqttClientFactory().CreateMqttClient())
            {
                await publisher.ConnectAsync(SubscriberOptions(broker.MqttPort, TestIds.ClientId("rret")));
                var result = await publisher.PublishAsync(new MqttApplicationMessageBuilder()
                    .WithTopic(topic).WithPayload("kept").WithRetainFlag().WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
                Assert.True(result.IsSuccess);
            }

            await broker.KillAsync();
            await broker.DisposeAsync();
            broker = await BrokerProcess.StartAsync(dataDir.Path);

            var received = new TaskCompletionSource<MqttApplicationMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
            using var subscriber = new MqttClientFactory().CreateMqttClient();
            subscriber.ApplicationMessageReceivedAsync += e =>
            {
                received.TrySetResult(e.ApplicationMessage);
                return Task.CompletedTask;
            };
            await subscriber.ConnectAsync(SubscriberOptions(broker.MqttPort, TestIds.ClientId("rret2")));
            await subscriber.SubscribeAsync(topic);
            var message = await received.Task.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal("kept", message.ConvertPayloadToString());
            Assert.True(message.Retain);
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

    private static string Payload(int i) => $"message {i:D3}";

    private static MqttClientOptions SubscriberOptions(int port, string clientId) =>
        new MqttClientOptionsBuilder()
            .WithTcpServer(BrokerFixture.Host, port)
            .WithClientId(clientId)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithCleanStart(false)
            .WithSessionExpiryInterval(3600)
            .WithTimeout(TimeSpan.FromSeconds(10))
            .Build();
}
