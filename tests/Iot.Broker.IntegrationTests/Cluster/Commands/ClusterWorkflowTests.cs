using Iot.Broker.IntegrationTests.Commands;
using Iot.Broker.IntegrationTests.Queues;
using Iot.TestUtilities;
using Iot.TestUtilities.Nats;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Commands;

/// <summary>
/// The four-step workflow with a response queue and a reply session across cluster nodes (issue 21): the producer works
/// through node A, the device and the worker of the next step through node B; the answers land in the producer's
/// session of the shared (JetStream) response queue.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class ClusterWorkflowTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task CommandOnA_DeviceOnB_AnswerInReplySession_NextStepByWorkerOnB_OutcomeInTheSameSessionOnA()
    {
        await using var nats = await NatsClusterFixture.StartAsync(servers: 3);
        await using var brokers = await ClusterBrokers.StartAsync(nats, 2);
        try
        {
            using var commandsOnA = new CommandApi(brokers.HttpBaseAddress(0));
            using var queuesOnA = new QueueApi(brokers.HttpBaseAddress(0));
            using var queuesOnB = new QueueApi(brokers.HttpBaseAddress(1));
            var suffix = Guid.NewGuid().ToString("N")[..8];
            var replies = $"cwf-replies-{suffix}";
            var work = $"cwf-work-{suffix}";
            var operation = $"op-{suffix}";
            await queuesOnA.CreateAsync(replies, """{"requiresSession":true}""");
            await queuesOnA.CreateAsync(work);

            var deviceId = TestIds.ClientId("cwfdev");
            using var device = new MqttClientFactory().CreateMqttClient();
            var received = new TaskCompletionSource<MqttApplicationMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
            device.ApplicationMessageReceivedAsync += e =>
            {
                received.TrySetResult(e.ApplicationMessage);
                return Task.CompletedTask;
            };
            await device.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(BrokerFixture.Host, brokers.MqttPort(1)).WithClientId(deviceId)
                .WithProtocolVersion(MqttProtocolVersion.V500).WithTimeout(TimeSpan.FromSeconds(10)).Build());
            await device.SubscribeAsync($"devices/{deviceId}/commands/#", MqttQualityOfServiceLevel.AtLeastOnce);

            // 1. On A: the command, answers to the operation's session.
            var (status, sent, _) = await commandsOnA.PostAsync(deviceId, "readConfig", "{}", $"?replyQueue={replies}&replySessionId={operation}");
            Assert.Equal(202, status);
            var commandId = sent.GetProperty("commandId").GetString()!;
            var command = await received.Task.WaitAsync(Generous);
            var ack = await device.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(command.ResponseTopic)
                .WithPayload("""{"status":"ok","firmware":"3.1.0"}""").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            Assert.True(ack.IsSuccess);

            // 2. On A: the device's answer (given on B) in the session.
            var session = await queuesOnA.AcceptSessionAsync(replies, operation);
            var locked = $"sessionId={operation}&sessionLockToken={session}";
            var answer = await queuesOnA.ReceiveOneAsync(replies, locked, Generous);
            Assert.Equal(commandId, answer.GetProperty("correlationId").GetString());
            Assert.Equal("3.1.0", answer.GetProperty("body").GetProperty("firmware").GetString());
            await queuesOnA.SettleAsync(replies, "complete", answer.GetProperty("lockToken").GetString()!);

            // 3. On A: the next step. On B: a worker does it and answers into the session.
            await queuesOnA.SendAsync(work, """{"firmware":"3.1.0"}""", $"?replyTo={replies}&replyToSessionId={operation}&correlationId={operation}");
            var job = await queuesOnB.ReceiveOneAsync(work, "", Generous);
            Assert.Equal(operation, job.GetProperty("replyToSessionId").GetString());
            await queuesOnB.SendAsync(job.GetProperty("replyTo").GetString()!, """{"applied":true}""",
                $"?sessionId={job.GetProperty("replyToSessionId").GetString()}&correlationId={job.GetProperty("correlationId").GetString()}&subject=applied");
            await queuesOnB.SettleAsync(work, "complete", job.GetProperty("lockToken").GetString()!);

            // 4. On A: the outcome, in the session A still holds.
            var done = await queuesOnA.ReceiveOneAsync(replies, locked, Generous);
            Assert.Equal(("applied", operation), (done.GetProperty("subject").GetString(), done.GetProperty("correlationId").GetString()));
            Assert.True(done.GetProperty("body").GetProperty("applied").GetBoolean());
            await queuesOnA.SettleAsync(replies, "complete", done.GetProperty("lockToken").GetString()!);
            Assert.Equal("Completed", (await commandsOnA.WaitForStatusAsync(commandId, "Completed", Generous)).GetProperty("status").GetString());
            Assert.Equal(operation, (await commandsOnA.GetAsync(commandId)).GetProperty("replySessionId").GetString());
        }
        catch
        {
            output.WriteLine(brokers.Diagnostics());
            throw;
        }
    }
}
