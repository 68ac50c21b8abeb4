using System.Text;
using Iot.Messaging.Crossover;
using Iot.Routing.Crossover;
using Iot.Routing.Queues;
using Iot.Routing.Tests.Internal;
using Iot.TestUtilities;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Routing.Tests.Crossover;

#pragma warning disable CA1001 // Disposed in DisposeAsync (IAsyncLifetime).
public sealed class QueueCrossoverDetectorTests : IAsyncLifetime
#pragma warning restore CA1001
{
    private static readonly CrossoverOptions Options = new()
    {
        NoReceiverThreshold = TimeSpan.FromMinutes(2),
        RepeatPeriod = TimeSpan.FromMinutes(10),
    };

    private readonly TestDirectory _directory = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));
    private readonly RecordingCrossoverEvents _events = new();
    private SqliteQueueStore _queues = null!;
    private QueueCrossoverDetector _detector = null!;

    public Task InitializeAsync()
    {
        _queues = new SqliteQueueStore(Path.Combine(_directory.Path, "queues.db"), _time);
        _detector = new QueueCrossoverDetector(_queues, _events, Options, _time);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _queues.DisposeAsync();
        _directory.Dispose();
    }

    [Fact]
    public async Task CheckAsync_OldestMessageWaitsPastThreshold_OneEventPerPeriodWhileItLasts()
    {
        await CreateAndSendAsync("orders");
        await _detector.CheckAsync(CancellationToken.None);
        _time.Advance(TimeSpan.FromSeconds(119));
        await _detector.CheckAsync(CancellationToken.None);
        Assert.Empty(_events.Raised);

        _time.Advance(TimeSpan.FromSeconds(1));
        await _detector.CheckAsync(CancellationToken.None);
        var raised = Assert.Single(_events.Raised);
        Assert.Equal((CrossoverTypes.QueueActiveMessagesWithNoReceiver, "/iot/queues", "$iot/queues/orders"), (raised.Type, raised.Source, raised.Subject));
        Assert.Equal(("orders", 1L, 120.0), (raised.Data["queue"]!.GetValue<string>(), raised.Data["activeMessageCount"]!.GetValue<long>(),
            raised.Data["oldestMessageAgeSeconds"]!.GetValue<double>()));

        // Still waiting: quiet until the period is over, then once more.
        _time.Advance(TimeSpan.FromMinutes(9));
        await _detector.CheckAsync(CancellationToken.None);
        Assert.Single(_events.Raised);
        _time.Advance(TimeSpan.FromMinutes(1));
        await _detector.CheckAsync(CancellationToken.None);
        Assert.Equal(2, _events.OfType(CrossoverTypes.QueueActiveMessagesWithNoReceiver).Count);
    }

    [Fact]
    public async Task CheckAsync_ConditionEndsAndComesBack_RaisesAtOnceTheSecondTime()
    {
        await CreateAndSendAsync("jobs");
        _time.Advance(TimeSpan.FromMinutes(3));
        await _detector.CheckAsync(CancellationToken.None);
        Assert.Single(_events.Raised);

        // A receiver takes the message: the condition ends.
        var received = Assert.Single(await _queues.ReceiveAsync("jobs", new ReceiveRequest()));
        Assert.Equal(SettleResult.Success, await _queues.CompleteAsync("jobs", received.LockToken!));
        await _detector.CheckAsync(CancellationToken.None);

        await _queues.SendAsync("jobs", [new QueueMessage { Body = Encoding.UTF8.GetBytes("again") }]);
        _time.Advance(TimeSpan.FromMinutes(3));
        await _detector.CheckAsync(CancellationToken.None);
        Assert.Equal(2, _events.OfType(CrossoverTypes.QueueActiveMessagesWithNoReceiver).Count);
    }

    [Fact]
    public async Task CheckAsync_DeadLetters_EventAtOnceThenOncePerPeriod()
    {
        await CreateAndSendAsync("payments");
        var received = Assert.Single(await _queues.ReceiveAsync("payments", new ReceiveRequest()));
        Assert.Equal(SettleResult.Success, await _queues.DeadLetterAsync("payments", received.LockToken!, "bad", "bad payload"));

        await _detector.CheckAsync(CancellationToken.None);
        await _detector.CheckAsync(CancellationToken.None);
        var raised = Assert.Single(_events.Raised);
        Assert.Equal((CrossoverTypes.QueueDeadLetterMessagesAvailable, "$iot/queues/payments", 1L),
            (raised.Type, raised.Subject, raised.Data["deadLetterMessageCount"]!.GetValue<long>()));

        _time.Advance(Options.RepeatPeriod);
        await _detector.CheckAsync(CancellationToken.None);
        Assert.Equal(2, _events.OfType(CrossoverTypes.QueueDeadLetterMessagesAvailable).Count);
    }

    [Fact]
    public async Task CheckAsync_PlatformQueue_NoReceiverNotRaised()
    {
        await CreateAndSendAsync("$internal");
        _time.Advance(TimeSpan.FromHours(1));
        await _detector.CheckAsync(CancellationToken.None);
        Assert.Empty(_events.Raised);
    }

    [Fact]
    public async Task CheckAsync_ScheduledMessage_NotWaitingUntilDue()
    {
        await _queues.CreateOrUpdateQueueAsync(new QueueProperties { Name = "later" });
        await _queues.SendAsync("later", [new QueueMessage { Body = "x"u8.ToArray(), ScheduledEnqueueTime = _time.GetUtcNow().AddHours(1) }]);
        _time.Advance(TimeSpan.FromMinutes(30));
        await _detector.CheckAsync(CancellationToken.None);
        Assert.Empty(_events.Raised);
    }

    private async Task CreateAndSendAsync(string queue)
    {
        await _queues.CreateOrUpdateQueueAsync(new QueueProperties { Name = queue });
        await _queues.SendAsync(queue, [new QueueMessage { Body = Encoding.UTF8.GetBytes("hello") }]);
    }
}
