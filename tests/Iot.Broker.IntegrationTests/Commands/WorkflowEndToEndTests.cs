using System.Text;
using System.Text.Json;
using Iot.Broker.IntegrationTests.Protocol;
using Iot.Broker.IntegrationTests.Queues;
using Iot.TestUtilities;
using MQTTnet;

namespace Iot.Broker.IntegrationTests.Commands;

/// <summary>
/// The four-step transaction of the asynchronous-messaging guidance with response queues and reply sessions, through the
/// real broker: a command starts an operation with <c>replyQueue</c> and <c>replySessionId</c>; a real MQTT device
/// answers; the answer lands on the response queue in the operation's session; the producer receives it from that
/// session and starts the next step on a work queue (<c>replyTo</c>, <c>replyToSessionId</c>); a different consumer, an
/// HTTP worker, completes it by answering into the same session. docs/patterns.md, "Response queues", runs the same.
/// </summary>
[Collection(CommandBroker.Name)]
[Trait("Category", "Integration")]
public sealed class WorkflowEndToEndTests(CommandBrokerFixture broker) : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private readonly CommandApi _commands = new(broker.HttpBaseUri);
    private readonly QueueApi _queues = new(broker.HttpBaseUri);

    public void Dispose()
    {
        _commands.Dispose();
        _queues.Dispose();
    }

    [Fact]
    public async Task FourSteps_CommandAnswerInReplySession_NextStepByHttpWorker_FinalAnswerInTheSameSession()
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var replies = $"wf-replies-{suffix}";
        var work = $"wf-apply-{suffix}";
        await _queues.CreateAsync(replies, """{"requiresSession":true}""");
        await _queues.CreateAsync(work);

        var deviceId = Ids.Client("wf-dev");
        await using var device = await TestClient.ConnectAsync(broker, deviceId);
        await device.SubscribeAsync($"devices/{deviceId}/commands/#");
        using var stop = new CancellationTokenSource();
        var deviceLoop = AnswerCommandsAsync(device, stop.Token);
        var worker = RunWorkerAsync(work, stop.Token);

        try
        {
            // Two operations at once on one reply queue: each answer must land in its own operation's session.
            var operations = new[] { $"op-a-{suffix}", $"op-b-{suffix}" };
            var commandIds = new List<string>();
            foreach (var operation in operations)
            {
                // Step 1: the command starts the operation.
                var (status, sent, _) = await _commands.PostAsync(deviceId, "readConfig", $$"""{"operation":"{{operation}}"}""",
                    $"?replyQueue={replies}&replySessionId={operation}");
                Assert.Equal(202, status);
                Assert.Equal(operation, sent.GetProperty("replySessionId").GetString());
                commandIds.Add(sent.GetProperty("commandId").GetString()!);
            }

            for (int i = 0; i < operations.Length; i++)
            {
                var operation = operations[i];
                var session = await _queues.AcceptSessionAsync(replies, operation);
                var locked = $"sessionId={operation}&sessionLockToken={session}";

                // Step 2: the device's answer, on the response queue in this operation's session.
                var answer = await _queues.ReceiveOneAsync(replies, locked, Deadline);
                Assert.Equal(commandIds[i], answer.GetProperty("correlationId").GetString());
                Assert.Equal(operation, answer.GetProperty("sessionId").GetString());
                Assert.Equal("readConfig", answer.GetProperty("subject").GetString());
                Assert.Equal(deviceId, answer.GetProperty("applicationProperties").GetProperty("deviceId").GetString());
                Assert.Equal("Completed", answer.GetProperty("applicationProperties").GetProperty("status").GetString());
                Assert.Equal(operation, answer.GetProperty("body").GetProperty("operation").GetString());
                var firmware = answer.GetProperty("body").GetProperty("firmware").GetString();
                await _queues.SettleAsync(replies, "complete", answer.GetProperty("lockToken").GetString()!);

                // Step 3: the producer starts the next step on the work queue, answers to come to the same session.
                await _queues.SendAsync(work, $$"""{"operation":"{{operation}}","firmware":"{{firmware}}"}""",
                    $"?replyTo={replies}&replyToSessionId={operation}&correlationId={operation}&subject=applyConfig");

                // Step 4: the HTTP worker (another consumer) completed it; its answer comes back in the session.
                var done = await _queues.ReceiveOneAsync(replies, locked, Deadline);
                Assert.Equal(operation, done.GetProperty("correlationId").GetString());
                Assert.Equal("applied", done.GetProperty("subject").GetString());
                Assert.Equal("http-worker", done.GetProperty("body").GetProperty("by").GetString());
                Assert.Equal(firmware, done.GetProperty("body").GetProperty("firmware").GetString());
                await _queues.SettleAsync(replies, "complete", done.GetProperty("lockToken").GetString()!);
                Assert.Equal(204, (await _queues.PostAsync($"queues/{replies}/sessions/{operation}:release?lockToken={session}", "")).Status);
            }

            foreach (var commandId in commandIds)
            {
                await _commands.WaitForStatusAsync(commandId, "Completed", Deadline);
            }

            var left = await _queues.StatisticsAsync(replies);
            Assert.Equal(0, left.GetProperty("active").GetInt64());
            Assert.Equal(0, (await _queues.StatisticsAsync(work)).GetProperty("active").GetInt64());
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(deviceLoop, worker);
        }
    }

    [Fact]
    public async Task CommandSentOverMqtt_ReplySessionIdUserProperty_AnswerInThatSession()
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var replies = $"wf-mqtt-replies-{suffix}";
        await _queues.CreateAsync(replies, """{"requiresSession":true}""");
        var deviceId = Ids.Client("wf-mqtt-dev");
        await using var device = await TestClient.ConnectAsync(broker, deviceId);
        await device.SubscribeAsync($"devices/{deviceId}/commands/#");
        await using var service = await TestClient.ConnectAsync(broker, Ids.Client("wf-svc"));
        var commandId = $"cmd-{suffix}";
        var operation = $"op-mqtt-{suffix}";

        var ack = await service.PublishAsync($"commands/{deviceId}/readConfig/{commandId}", "{}",
            configure: m => m.WithUserProperty("replyQueue", Encoding.UTF8.GetBytes(replies).AsMemory())
                .WithUserProperty("replySessionId", Encoding.UTF8.GetBytes(operation).AsMemory()));
        Assert.True(ack.IsSuccess);
        var command = await device.ReceiveAsync(Deadline);
        Assert.EndsWith(commandId, command.Topic, StringComparison.Ordinal);
        await device.PublishAsync(command.ResponseTopic, """{"status":"ok","firmware":"2.0.0"}""");

        var session = await _queues.AcceptSessionAsync(replies, operation);
        var answer = await _queues.ReceiveOneAsync(replies, $"sessionId={operation}&sessionLockToken={session}", Deadline);
        Assert.Equal(commandId, answer.GetProperty("correlationId").GetString());
        Assert.Equal("2.0.0", answer.GetProperty("body").GetProperty("firmware").GetString());
        Assert.Equal(operation, (await _commands.GetAsync(commandId)).GetProperty("replySessionId").GetString());
    }

    [Theory]
    [InlineData("?replySessionId=op-1", "needs a replyQueue")]
    [InlineData("?replyQueue={plain}&replySessionId=op-1", "requires sessions")]
    public async Task ReplySession_WithoutASessionReplyQueue_400NamesWhy(string query, string detail)
    {
        var plain = $"wf-plain-{Guid.NewGuid():N}"[..20];
        await _queues.CreateAsync(plain);
        var (status, body, _) = await _commands.PostAsync(Ids.Client("wf-bad"), "readConfig", "{}", query.Replace("{plain}", plain, StringComparison.Ordinal));
        Assert.Equal(400, status);
        Assert.Contains(detail, body.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    /// <summary>The device: answers every command with its payload's operation and a firmware version.</summary>
    private static async Task AnswerCommandsAsync(TestClient device, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            MqttApplicationMessage? command;
            try
            {
                command = await device.TryReceiveAsync(TimeSpan.FromMilliseconds(500));
            }
            catch (OperationCanceledException)
            {
                return;
            }

            if (command is null)
            {
                continue;
            }

            using var payload = JsonDocument.Parse(command.Payload);
            var operation = payload.RootElement.GetProperty("operation").GetString();
            await device.PublishAsync(command.ResponseTopic, $$"""{"status":"ok","operation":"{{operation}}","firmware":"1.4.2"}""");
        }
    }

    /// <summary>
    /// The consumer of the next step, over HTTP only: receives (long poll), does the work, answers to the message's
    /// <c>replyTo</c> in its <c>replyToSessionId</c> with its <c>correlationId</c>, then completes the message.
    /// </summary>
    private async Task RunWorkerAsync(string queue, CancellationToken cancellationToken)
    {
        using var api = new QueueApi(broker.HttpBaseUri);
        while (!cancellationToken.IsCancellationRequested)
        {
            foreach (var message in await api.ReceiveAsync(queue, "maxWaitTime=1"))
            {
                var body = message.GetProperty("body");
                var result = JsonSerializer.Serialize(new
                {
                    operation = body.GetProperty("operation").GetString(),
                    firmware = body.GetProperty("firmware").GetString(),
                    by = "http-worker",
                });
                var replyTo = message.GetProperty("replyTo").GetString()!;
                var session = Uri.EscapeDataString(message.GetProperty("replyToSessionId").GetString()!);
                var correlation = Uri.EscapeDataString(message.GetProperty("correlationId").GetString()!);
                await api.SendAsync(replyTo, result, $"?sessionId={session}&correlationId={correlation}&subject=applied");
                await api.SettleAsync(queue, "complete", message.GetProperty("lockToken").GetString()!);
            }
        }
    }
}
