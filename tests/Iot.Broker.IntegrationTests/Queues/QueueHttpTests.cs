using System.Globalization;
using Iot.TestUtilities;

namespace Iot.Broker.IntegrationTests.Queues;

/// <summary>The broker the queue HTTP tests share.</summary>
[CollectionDefinition(Name)]
public sealed class QueueBroker : ICollectionFixture<BrokerFixture>
{
    public const string Name = "Queues over HTTP";
}

/// <summary>
/// Scheduled messages (and their cancellation), deferral and receive-deferred, and priority order through the real HTTP
/// API of a running broker (the store-level contract tests check the same rules below the API).
/// </summary>
[Collection(QueueBroker.Name)]
[Trait("Category", "Integration")]
public sealed class QueueHttpTests(BrokerFixture broker) : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private readonly QueueApi _api = new(broker.HttpBaseUri);

    public void Dispose() => _api.Dispose();

    private async Task<string> NewQueueAsync(string prefix)
    {
        var name = $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 9)];
        await _api.CreateAsync(name);
        return name;
    }

    private static string At(DateTimeOffset time) =>
        Uri.EscapeDataString(time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture));

    [Fact]
    public async Task ScheduledMessage_NotReceivedBeforeItsTime_ReceivedAfter()
    {
        var queue = await NewQueueAsync("sched");
        // Ten seconds: far more than a send and a receive take on a busy machine, short enough for a test.
        var at = DateTimeOffset.UtcNow.AddSeconds(10);
        var sequenceNumber = await _api.SendAsync(queue, """{"step":"later"}""", $"?scheduledEnqueueTime={At(at)}");

        Assert.Empty(await _api.ReceiveAsync(queue));
        Assert.True(DateTimeOffset.UtcNow < at, "the receive before the scheduled time ran after it: the machine stalled for 10 s");
        var statistics = await _api.StatisticsAsync(queue);
        Assert.Equal((0, 1), (statistics.GetProperty("active").GetInt64(), statistics.GetProperty("scheduled").GetInt64()));
        var peeked = Assert.Single(await _api.PeekAsync(queue));
        Assert.Equal("Scheduled", peeked.GetProperty("state").GetString());

        var received = await _api.ReceiveOneAsync(queue, "", Deadline);
        Assert.True(DateTimeOffset.UtcNow >= at, "received before its scheduled time");
        Assert.Equal(sequenceNumber, received.GetProperty("sequenceNumber").GetInt64());
        Assert.Equal("later", received.GetProperty("body").GetProperty("step").GetString());
        Assert.Equal(at.ToUnixTimeMilliseconds(), received.GetProperty("scheduledEnqueueTime").GetDateTimeOffset().ToUnixTimeMilliseconds());
        await _api.SettleAsync(queue, "complete", received.GetProperty("lockToken").GetString()!);
    }

    [Fact]
    public async Task ScheduledMessage_CancelledBySequenceNumber_NeverDelivered()
    {
        var queue = await NewQueueAsync("cancel");
        var at = DateTimeOffset.UtcNow.AddSeconds(3);
        var scheduled = await _api.SendAsync(queue, """{"n":1}""", $"?scheduledEnqueueTime={At(at)}");
        var active = await _api.SendAsync(queue, """{"n":2}""");

        Assert.Equal(204, await _api.CancelScheduledAsync(queue, scheduled));
        Assert.Equal(404, await _api.CancelScheduledAsync(queue, scheduled));
        // Only a scheduled message can be cancelled: an active one is a 404 and stays.
        Assert.Equal(404, await _api.CancelScheduledAsync(queue, active));
        Assert.Equal(404, await _api.CancelScheduledAsync(queue, 999_999));
        Assert.Equal(0, (await _api.StatisticsAsync(queue)).GetProperty("scheduled").GetInt64());

        var received = await _api.ReceiveOneAsync(queue, "", Deadline);
        Assert.Equal(active, received.GetProperty("sequenceNumber").GetInt64());
        await _api.SettleAsync(queue, "complete", received.GetProperty("lockToken").GetString()!);

        // Well past the cancelled message's time, nothing else comes.
        await Eventually.WaitUntilAsync(() => DateTimeOffset.UtcNow > at.AddSeconds(1), Deadline, "the cancelled message's time passed");
        Assert.Empty(await _api.ReceiveAsync(queue, "maxWaitTime=2"));
        Assert.Empty(await _api.PeekAsync(queue));
    }

    [Fact]
    public async Task Deferred_SkippedByReceive_ReceivedBySequenceNumber()
    {
        var queue = await NewQueueAsync("defer");
        var first = await _api.SendAsync(queue, """{"n":1}""");
        var second = await _api.SendAsync(queue, """{"n":2}""");

        var head = Assert.Single(await _api.ReceiveAsync(queue));
        Assert.Equal(first, head.GetProperty("sequenceNumber").GetInt64());
        await _api.SettleAsync(queue, "defer", head.GetProperty("lockToken").GetString()!);

        var next = Assert.Single(await _api.ReceiveAsync(queue, "maxMessages=10"));
        Assert.Equal(second, next.GetProperty("sequenceNumber").GetInt64());
        await _api.SettleAsync(queue, "complete", next.GetProperty("lockToken").GetString()!);
        Assert.Empty(await _api.ReceiveAsync(queue, "maxMessages=10"));
        Assert.Equal(1, (await _api.StatisticsAsync(queue)).GetProperty("deferred").GetInt64());

        var deferred = Assert.Single((await _api.ReceiveDeferredAsync(queue, first, 999_999)).EnumerateArray());
        Assert.Equal(first, deferred.GetProperty("sequenceNumber").GetInt64());
        Assert.Equal("Deferred", deferred.GetProperty("state").GetString());
        Assert.Equal(1, deferred.GetProperty("body").GetProperty("n").GetInt32());
        await _api.SettleAsync(queue, "complete", deferred.GetProperty("lockToken").GetString()!);

        Assert.Equal(0, (await _api.ReceiveDeferredAsync(queue, first)).GetArrayLength());
        Assert.Equal(0, (await _api.StatisticsAsync(queue)).GetProperty("deferred").GetInt64());
    }

    [Fact]
    public async Task Priority_HigherFirst_ThenSendOrder()
    {
        var queue = await NewQueueAsync("prio");
        await _api.SendAsync(queue, "\"low\"");
        await _api.SendAsync(queue, "\"high-1\"", "?priority=5");
        await _api.SendAsync(queue, "\"mid\"", "?priority=2");
        await _api.SendAsync(queue, "\"high-2\"", "?priority=5");
        await _api.SendAsync(queue, "\"below\"", "?priority=-1");

        var received = await _api.ReceiveAsync(queue, "maxMessages=10&mode=receiveAndDelete");
        Assert.Equal(["high-1", "high-2", "mid", "low", "below"], received.Select(m => m.GetProperty("body").GetString()));
        Assert.Equal([5, 5, 2, 0, -1], received.Select(m => m.GetProperty("priority").GetInt32()));
    }

    [Fact]
    public async Task Send_InvalidScheduledTime_400AndNothingStored()
    {
        var queue = await NewQueueAsync("bad");
        var (status, body) = await _api.TrySendAsync(queue, "{}", "?scheduledEnqueueTime=tomorrow");
        Assert.Equal(400, status);
        Assert.False(string.IsNullOrEmpty(body.GetProperty("detail").GetString()));
        Assert.Empty(await _api.PeekAsync(queue));
    }
}
