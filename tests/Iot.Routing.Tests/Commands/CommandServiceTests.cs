using System.Text;
using Iot.Messaging;
using Iot.Messaging.Crossover;
using Iot.Routing.Commands;
using Iot.Routing.Hosting;
using Iot.Routing.Queues;
using Iot.Routing.Tests.Internal;
using Iot.TestUtilities;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Routing.Tests.Commands;

#pragma warning disable CA1001 // Disposed in DisposeAsync (IAsyncLifetime).
public sealed class CommandServiceTests : IAsyncLifetime
#pragma warning restore CA1001
{
    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(10);
    private readonly TestDirectory _directory = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));
    private readonly FakeDeviceCommandChannel _channel = new();
    private readonly RoutingMetrics _metrics = new();
    private readonly RecordingCrossoverEvents _crossover = new();
    private SqliteQueueStore _queues = null!;
    private CommandService _commands = null!;

    public async Task InitializeAsync()
    {
        _queues = new SqliteQueueStore(Path.Combine(_directory.Path, "queues.db"), _time);
        _commands = new CommandService(_queues, new SqliteCommandStore(_queues),
            Options.Create(new CommandOptions { AnswerTimeout = AnswerTimeout, MaxDeliveryCount = 3 }), _time, _metrics,
            NullLogger<CommandService>.Instance, () => _channel, crossover: _crossover);
        await _commands.StartAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _commands.StopAsync(CancellationToken.None);
        await _commands.DisposeAsync();
        await _queues.DisposeAsync();
        _directory.Dispose();
    }

    private Task<(CommandRecord Command, bool Duplicate)> SendAsync(string device, string name = "reboot", string? messageId = null,
        TimeSpan? ttl = null, string? replyQueue = null) =>
        _commands.SendAsync(new CommandRequest(device, name, Encoding.UTF8.GetBytes("""{"delay":1}"""), "application/json", ttl, messageId, replyQueue));

    private Task AnswerAsync(string device, string commandId, string answer) =>
        _commands.Observe(new RoutedMessage
        {
            Topic = $"devices/{device}/responses/{commandId}",
            Payload = Encoding.UTF8.GetBytes(answer),
            QualityOfService = 1,
            SourceClientId = device,
        })!;

    private async Task<CommandStatus> StatusAsync(string commandId) => (await _commands.GetAsync(commandId))!.Status;

    private async Task WaitForStatusAsync(string commandId, CommandStatus expected)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (await StatusAsync(commandId) != expected)
        {
            Assert.True(DateTime.UtcNow < deadline, $"command {commandId} never reached {expected}");
            await Task.Yield();
        }
    }

    /// <summary>Moves the fake clock in small steps until the next send arrives (the pump's timer may start late).</summary>
    private async Task<PendingSend> AdvanceUntilSentAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            if (_channel.TryTakeSend(out var send))
            {
                return send!;
            }

            Assert.True(DateTime.UtcNow < deadline, "no command was sent");
            _time.Advance(TimeSpan.FromSeconds(3));
            await _channel.WaitForSendAsync(TimeSpan.FromMilliseconds(50));
        }
    }

    [Fact]
    public async Task Send_DeviceOffline_DeliveredWhenReady_AnswerCompletesWithAnswer()
    {
        var (command, duplicate) = await SendAsync("d1");
        Assert.False(duplicate);
        Assert.Equal(CommandStatus.Queued, await StatusAsync(command.CommandId));

        _time.Advance(TimeSpan.FromMinutes(30));
        _channel.Connect("d1");
        var send = await _channel.NextSendAsync();
        Assert.Equal($"devices/d1/commands/reboot/{command.CommandId}", send.Command.Topic);
        Assert.Equal($"devices/d1/responses/{command.CommandId}", send.Command.ResponseTopic);
        Assert.Equal(command.CommandId, Encoding.UTF8.GetString(send.Command.CorrelationData!));
        Assert.Equal("""{"delay":1}""", Encoding.UTF8.GetString(send.Command.Payload.Span));
        Assert.Equal(1800u, send.Command.MessageExpirySeconds);
        Assert.Equal("application/json", send.Command.ContentType);

        send.Acknowledged.SetResult(true);
        await WaitForStatusAsync(command.CommandId, CommandStatus.Delivered);
        await AnswerAsync("d1", command.CommandId, """{"status":"ok","uptime":5}""");

        var done = await _commands.GetAsync(command.CommandId);
        Assert.Equal(CommandStatus.Completed, done!.Status);
        Assert.Equal("""{"status":"ok","uptime":5}""", Encoding.UTF8.GetString(done.Answer!));
        Assert.Equal(1, done.DeliveryCount);
        Assert.Equal((1, 1, 1), (_metrics.Read(RoutingCounter.CommandsSent), _metrics.Read(RoutingCounter.CommandsDelivered), _metrics.Read(RoutingCounter.CommandsAnswered)));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await _queues.GetStatisticsAsync(CommandService.QueueName)).Active != 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the command message was never completed");
            await Task.Yield();
        }
    }

    [Fact]
    public async Task Send_SameMessageIdTwice_RunsOnce()
    {
        var (first, _) = await SendAsync("d2", messageId: "m-1");
        var (second, duplicate) = await SendAsync("d2", messageId: "m-1");
        Assert.True(duplicate);
        Assert.Equal(first.CommandId, second.CommandId);

        _channel.Connect("d2");
        var send = await _channel.NextSendAsync();
        send.Acknowledged.SetResult(true);
        await WaitForStatusAsync(first.CommandId, CommandStatus.Delivered);
        await AnswerAsync("d2", first.CommandId, "{}");
        Assert.False(await _channel.WaitForSendAsync(TimeSpan.FromMilliseconds(200)));
        Assert.Equal(0, (await _queues.GetStatisticsAsync(CommandService.QueueName)).Active);
    }

    [Fact]
    public async Task Commands_OneDevice_DeliveredInOrderOneAtATime()
    {
        var ids = new List<string>();
        foreach (var name in new[] { "a", "b", "c" })
        {
            ids.Add((await SendAsync("d3", name)).Command.CommandId);
        }

        _channel.Connect("d3");
        foreach (var id in ids)
        {
            var send = await _channel.NextSendAsync();
            Assert.Equal(id, send.CommandId);
            send.Acknowledged.SetResult(true);
            await WaitForStatusAsync(id, CommandStatus.Delivered);
            Assert.False(_channel.TryTakeSend(out _));
            await AnswerAsync("d3", id, "{}");
        }
    }

    [Fact]
    public async Task NoAnswer_RedeliveredUpToMaxDeliveryCount_ThenDeadLetteredWithReason()
    {
        var (command, _) = await SendAsync("d4");
        _channel.Connect("d4");
        var send = await _channel.NextSendAsync();
        for (int delivery = 1; delivery <= 3; delivery++)
        {
            Assert.Equal(command.CommandId, send.CommandId);
            send.Acknowledged.SetResult(true);
            await WaitForStatusAsync(command.CommandId, CommandStatus.Delivered);
            Assert.Equal(delivery, (await _commands.GetAsync(command.CommandId))!.DeliveryCount);
            if (delivery < 3)
            {
                send = await AdvanceUntilSentAsync();
            }
        }

        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (await StatusAsync(command.CommandId) != CommandStatus.DeadLettered)
        {
            Assert.True(DateTime.UtcNow < deadline, "never dead-lettered");
            _time.Advance(TimeSpan.FromSeconds(3));
            await Task.Yield();
        }

        var dead = await _commands.GetAsync(command.CommandId);
        Assert.Equal(QueueDeadLetterReasons.MaxDeliveryCountExceeded, dead!.Reason);
        Assert.Equal(3, dead.DeliveryCount);
        while (_metrics.Read(RoutingCounter.CommandsDeadLettered) == 0)
        {
            // The status reads the queue message, dead-lettered a moment before the pump records it and counts it.
            Assert.True(DateTime.UtcNow < deadline, "the dead-lettering was never counted");
            await Task.Yield();
        }

        Assert.Equal(1, _metrics.Read(RoutingCounter.CommandsDeadLettered));
        while (_crossover.Raised.IsEmpty)
        {
            Assert.True(DateTime.UtcNow < deadline, "no crossover event");
            await Task.Yield();
        }

        var raised = Assert.Single(_crossover.Raised);
        Assert.Equal((CrossoverTypes.CommandDeadLettered, "$iot/devices/d4/commands/" + command.CommandId), (raised.Type, raised.Subject));
        Assert.Equal(QueueDeadLetterReasons.MaxDeliveryCountExceeded, raised.Data["reason"]!.GetValue<string>());
        Assert.Equal((command.CommandId, "d4", 3), (raised.Data["commandId"]!.GetValue<string>(), raised.Data["deviceId"]!.GetValue<string>(),
            raised.Data["deliveryCount"]!.GetValue<int>()));

        // A lock lost on the last delivery is recorded at once; the queue moves the message to its dead-letter queue at
        // the pump's next receive, a moment later.
        IReadOnlyList<ReceivedQueueMessage> letters;
        while ((letters = await _queues.PeekAsync(CommandService.QueueName, 0, 10, deadLetterQueue: true)).Count == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the message never reached the dead-letter queue");
            await Task.Yield();
        }

        var letter = Assert.Single(letters);
        Assert.Equal(command.CommandId, letter.CorrelationId);
        Assert.Equal(QueueDeadLetterReasons.MaxDeliveryCountExceeded, letter.DeadLetterReason);
    }

    [Fact]
    public async Task DeviceGoesAwayMidCommand_DeliveredAgainOnReconnect()
    {
        var (command, _) = await SendAsync("d5");
        _channel.Connect("d5");
        var send = await _channel.NextSendAsync();
        _channel.Disconnect("d5");
        send.Acknowledged.SetResult(false);

        _channel.Connect("d5");
        var again = await _channel.NextSendAsync();
        Assert.Equal(command.CommandId, again.CommandId);
        again.Acknowledged.SetResult(true);
        await WaitForStatusAsync(command.CommandId, CommandStatus.Delivered);
        Assert.Equal(2, (await _commands.GetAsync(command.CommandId))!.DeliveryCount);
        await AnswerAsync("d5", command.CommandId, "{}");
        Assert.Equal(CommandStatus.Completed, await StatusAsync(command.CommandId));
    }

    [Fact]
    public async Task Answer_WithFailedStatus_Failed()
    {
        var (command, _) = await SendAsync("d6");
        _channel.Connect("d6");
        (await _channel.NextSendAsync()).Acknowledged.SetResult(true);
        await WaitForStatusAsync(command.CommandId, CommandStatus.Delivered);
        await AnswerAsync("d6", command.CommandId, """{"status":"failed","error":"busy"}""");
        Assert.Equal(CommandStatus.Failed, await StatusAsync(command.CommandId));
    }

    [Fact]
    public async Task Answer_FromAnotherDevice_Ignored()
    {
        var (command, _) = await SendAsync("d7");
        await AnswerAsync("intruder", command.CommandId, "{}");
        Assert.Equal(CommandStatus.Queued, await StatusAsync(command.CommandId));
    }

    [Fact]
    public async Task Ttl_DeviceNeverConnects_Expired()
    {
        var (command, _) = await SendAsync("d8", ttl: TimeSpan.FromMinutes(5));
        _time.Advance(TimeSpan.FromMinutes(5));
        var expired = await _commands.GetAsync(command.CommandId);
        Assert.Equal(CommandStatus.Expired, expired!.Status);

        _channel.Connect("d8");
        Assert.False(await _channel.WaitForSendAsync(TimeSpan.FromMilliseconds(200)));
        var letter = Assert.Single(await _queues.PeekAsync(CommandService.QueueName, 0, 10, deadLetterQueue: true));
        Assert.Equal(QueueDeadLetterReasons.TtlExpired, letter.DeadLetterReason);
    }

    [Fact]
    public async Task ReplyQueue_AnswerLandsInIt()
    {
        await _queues.CreateOrUpdateQueueAsync(new QueueProperties { Name = "replies" });
        var (command, _) = await SendAsync("d9", replyQueue: "replies");
        _channel.Connect("d9");
        (await _channel.NextSendAsync()).Acknowledged.SetResult(true);
        await WaitForStatusAsync(command.CommandId, CommandStatus.Delivered);
        await AnswerAsync("d9", command.CommandId, """{"temperature":21}""");
        await AnswerAsync("d9", command.CommandId, """{"temperature":21}""");

        var reply = Assert.Single(await _queues.ReceiveAsync("replies", new ReceiveRequest { MaxMessages = 10 }));
        Assert.Equal(command.CommandId, reply.CorrelationId);
        Assert.Equal("""{"temperature":21}""", Encoding.UTF8.GetString(reply.Body));
        Assert.Equal("d9", reply.ApplicationProperties["deviceId"]);
        Assert.Equal("Completed", reply.ApplicationProperties["status"]);
    }

    /// <summary>
    /// Issue 16: the check that a command is still pending is inside the answer's transaction, so two answers that both
    /// find it pending (a device resending while the first is being written) leave one answer and one reply, even on a
    /// reply queue without duplicate detection.
    /// </summary>
    [Fact]
    public async Task ConcurrentAnswers_ReplyQueueWithoutDuplicateDetection_OneAnswerAndOneReply()
    {
        await _queues.CreateOrUpdateQueueAsync(new QueueProperties { Name = "replies0", DuplicateDetectionWindow = TimeSpan.Zero });
        var (command, _) = await SendAsync("d9b", replyQueue: "replies0");
        _channel.Connect("d9b");
        (await _channel.NextSendAsync()).Acknowledged.SetResult(true);
        await WaitForStatusAsync(command.CommandId, CommandStatus.Delivered);

        await Task.WhenAll(AnswerAsync("d9b", command.CommandId, """{"n":1}"""), AnswerAsync("d9b", command.CommandId, """{"n":2}"""));
        await AnswerAsync("d9b", command.CommandId, """{"n":3}""");

        var reply = Assert.Single(await _queues.ReceiveAsync("replies0", new ReceiveRequest { MaxMessages = 10 }));
        var recorded = (await _commands.GetAsync(command.CommandId))!;
        Assert.Equal(CommandStatus.Completed, recorded.Status);
        Assert.Equal(Encoding.UTF8.GetString(recorded.Answer!), Encoding.UTF8.GetString(reply.Body));
        Assert.Equal(1, _metrics.Read(RoutingCounter.CommandsAnswered));
    }

    [Fact]
    public async Task Wait_AnswerArrives_ReturnsCompleted()
    {
        var (command, _) = await SendAsync("d10");
        var waiting = _commands.WaitAsync(command.CommandId, TimeSpan.FromSeconds(30));
        _channel.Connect("d10");
        (await _channel.NextSendAsync()).Acknowledged.SetResult(true);
        await WaitForStatusAsync(command.CommandId, CommandStatus.Delivered);
        await AnswerAsync("d10", command.CommandId, "{}");
        Assert.Equal(CommandStatus.Completed, (await waiting.WaitAsync(TimeSpan.FromSeconds(10)))!.Status);
    }

    [Fact]
    public async Task Wait_NoAnswer_ReturnsPendingWhenWaitEnds()
    {
        var (command, _) = await SendAsync("d11", ttl: TimeSpan.FromDays(2));
        var waiting = _commands.WaitAsync(command.CommandId, TimeSpan.FromSeconds(30));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!waiting.IsCompleted)
        {
            Assert.True(DateTime.UtcNow < deadline, "the wait never ended");
            _time.Advance(TimeSpan.FromSeconds(5));
            await Task.WhenAny(waiting, Task.Delay(5));
        }

        Assert.Equal(CommandStatus.Queued, (await waiting)!.Status);
    }

    [Theory]
    [InlineData("devices/d1/responses/abc", true, "d1", "abc")]
    [InlineData("devices/d1/responses/", false, "", "")]
    [InlineData("devices/d1/responses/a/b", false, "", "")]
    [InlineData("devices//responses/abc", false, "", "")]
    [InlineData("devices/d1/telemetry", false, "", "")]
    [InlineData("other/d1/responses/abc", false, "", "")]
    public void TryParseResponseTopic_Cases(string topic, bool expected, string device, string commandId)
    {
        Assert.Equal(expected, CommandService.TryParseResponseTopic(topic, out var d, out var c));
        Assert.Equal((device, commandId), (d, c));
    }

    [Theory]
    [InlineData("""{"status":"ok"}""", CommandStatus.Completed)]
    [InlineData("""{"status":"FAILED"}""", CommandStatus.Failed)]
    [InlineData("""{"status":"error"}""", CommandStatus.Failed)]
    [InlineData("""{"status":500}""", CommandStatus.Failed)]
    [InlineData("""{"status":200}""", CommandStatus.Completed)]
    [InlineData("not json", CommandStatus.Completed)]
    [InlineData("[1,2]", CommandStatus.Completed)]
    public void StatusOf_Answer(string answer, CommandStatus expected) =>
        Assert.Equal(expected, CommandService.StatusOf(Encoding.UTF8.GetBytes(answer)));
}
