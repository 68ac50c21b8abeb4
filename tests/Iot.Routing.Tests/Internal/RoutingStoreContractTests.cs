using System.Text;
using Iot.Routing.Internal;

namespace Iot.Routing.Tests.Internal;

/// <summary>
/// The <see cref="IRoutingStore"/> contract (definitions, pending deliveries, pull locks, dead letters and the
/// per-subscription quota); each implementation inherits it.
/// </summary>
public abstract class RoutingStoreContractTests
{
    private readonly List<(string Subscription, int Count)> _evicted = [];

    /// <summary>
    /// Opens the store on this test's state with the given limits: a second call (after the first store was disposed)
    /// opens the same state again, as a restart does. Evictions are reported to <see cref="ReportEvicted"/>.
    /// </summary>
    private protected abstract IRoutingStore Open(int maxPendingEvents = int.MaxValue, long maxPendingBytes = long.MaxValue,
        int maxDeadLetteredEvents = int.MaxValue);

    /// <summary>The callback an implementation reports dead-letter evictions to (subscription, count).</summary>
    protected void ReportEvicted(string subscription, int count)
    {
        lock (_evicted)
        {
            _evicted.Add((subscription, count));
        }
    }

    private protected static PendingDelivery Delivery(string subscription, string id, long at = 1000, long ttl = 60_000) =>
        new(subscription, id, Encoding.UTF8.GetBytes($$"""{"id":"{{id}}"}"""), at, at + ttl);

    [Fact]
    public async Task Enqueue_Reopen_DeliveriesAndDefinitionsSurvive()
    {
        await using (var store = Open())
        {
            await store.EnqueueAsync([Delivery("a", "e1"), Delivery("a", "e2"), Delivery("b", "e3")]);
            await store.SaveDefinitionAsync("routes", "r1", """{"name":"r1"}""");
            await store.SaveDefinitionAsync("subscriptions", "a", """{"name":"a"}""");
        }

        await using var reopened = Open();
        var due = await reopened.GetDueAsync("a", now: 1000, max: 10);
        Assert.Equal(["e1", "e2"], due.Select(d => d.EventId));
        Assert.Equal("""{"id":"e1"}""", Encoding.UTF8.GetString(due[0].Event));
        Assert.Equal(61_000, due[0].ExpiresAt);
        Assert.Equal([("r1", """{"name":"r1"}""")], reopened.ReadDefinitions("routes"));
        Assert.Single(reopened.ReadDefinitions("subscriptions"));
    }

    [Fact]
    public async Task SaveDefinition_Again_Replaces_DeleteUnknown_Zero()
    {
        await using var store = Open();
        await store.SaveDefinitionAsync("routes", "r1", """{"v":1}""");
        await store.SaveDefinitionAsync("routes", "r1", """{"v":2}""");

        Assert.Equal([("r1", """{"v":2}""")], store.ReadDefinitions("routes"));
        Assert.Equal(0, await store.DeleteDefinitionAsync("routes", "nope"));
        Assert.Equal(1, await store.DeleteDefinitionAsync("routes", "r1"));
        Assert.Empty(store.ReadDefinitions("routes"));
    }

    [Fact]
    public async Task Definitions_UnknownTable_Throws()
    {
        await using var store = Open();
        Assert.Throws<ArgumentOutOfRangeException>(() => store.ReadDefinitions("deliveries"));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.SaveDefinitionAsync("deliveries", "x", "{}"));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.DeleteDefinitionAsync("deliveries", "x"));
    }

    [Fact]
    public async Task RecordFailures_NotDueUntilNextAttempt()
    {
        await using var store = Open();
        await store.EnqueueAsync([Delivery("a", "e1")]);
        var due = await store.GetDueAsync("a", 1000, 10);
        await store.RecordFailuresAsync([(due[0].Seq, 1, 11_000)], "HTTP 500");

        Assert.Empty(await store.GetDueAsync("a", 10_999, 10));
        Assert.Equal(11_000, await store.GetNextDueAsync("a"));
        var again = Assert.Single(await store.GetDueAsync("a", 11_000, 10));
        Assert.Equal(1, again.Attempts);
        Assert.Equal("HTTP 500", again.LastOutcome);
    }

    [Fact]
    public async Task DeadLetter_ListAndRedeliver_RoundTrip()
    {
        await using var store = Open();
        await store.EnqueueAsync([Delivery("a", "e1"), Delivery("a", "e2")]);
        var due = await store.GetDueAsync("a", 1000, 10);
        await store.DeadLetterAsync(due, 3, DeadLetterReasons.DestinationRejected, "HTTP 400", now: 2000);

        Assert.Empty(await store.GetDueAsync("a", 5000, 10));
        Assert.Null(await store.GetNextDueAsync("a"));
        var dead = await store.ListDeadLettersAsync("a", 10);
        Assert.All(dead, d => Assert.Equal((DeadLetterReasons.DestinationRejected, "HTTP 400", 3, (long?)2000), (d.Reason, d.LastOutcome, d.Attempts, d.DeadLetteredAt)));
        Assert.Equal((0L, 2L), await store.CountAsync("a"));

        Assert.Equal(1, await store.RedeliverAsync("a", ["e2"], now: 3000, expiresAt: 9000));
        var redelivered = Assert.Single(await store.GetDueAsync("a", 3000, 10));
        Assert.Equal(("e2", 0, 9000L), (redelivered.EventId, redelivered.Attempts, redelivered.ExpiresAt));
        Assert.Equal(1, await store.RedeliverAsync("a", null, now: 3000, expiresAt: 9000));
        Assert.Equal((2L, 0L), await store.CountAsync("a"));
    }

    [Fact]
    public async Task DeleteDefinition_Subscription_DeletesItsDeliveries()
    {
        await using var store = Open();
        await store.SaveDefinitionAsync("subscriptions", "a", "{}");
        await store.EnqueueAsync([Delivery("a", "e1"), Delivery("b", "e2")]);
        Assert.Equal(1, await store.DeleteDefinitionAsync("subscriptions", "a"));
        Assert.Equal((0L, 0L), await store.CountAsync("a"));
        Assert.Equal((1L, 0L), await store.CountAsync("b"));
    }

    [Fact]
    public async Task Receive_LockAcknowledgeReleaseRejectRenew_SettleByToken()
    {
        await using var store = Open();
        await store.EnqueueAsync([Delivery("p", "e1"), Delivery("p", "e2"), Delivery("p", "e3")]);
        var received = await store.ReceiveAsync("p", 3, now: 1000, lockDuration: 60_000, maxDeliveryCount: 10, deadLetter: true);
        Assert.Equal(3, received.Count);
        Assert.Empty(await store.ReceiveAsync("p", 3, 1000, 60_000, 10, true));

        var ack = await store.AcknowledgeAsync("p", [received[0].LockToken!, "unknown"], now: 2000);
        Assert.Equal([received[0].LockToken!], ack.Succeeded);
        Assert.Equal("unknown", Assert.Single(ack.Failed).LockToken);

        Assert.Single((await store.ReleaseAsync("p", [received[1].LockToken!], 2000, delay: 0)).Succeeded);
        Assert.Single((await store.RenewLockAsync("p", [received[2].LockToken!], 2000, 60_000)).Succeeded);
        var again = Assert.Single(await store.ReceiveAsync("p", 3, 2000, 60_000, 10, true));
        Assert.Equal(("e2", 2), (again.EventId, again.Attempts));

        Assert.Single((await store.RejectAsync("p", [again.LockToken!], 3000, deadLetter: true)).Succeeded);
        Assert.Equal(DeadLetterReasons.Rejected, Assert.Single(await store.ListDeadLettersAsync("p", 10)).Reason);
    }

    private static PendingDelivery Sized(string subscription, string id, int size = 10) =>
        new(subscription, id, Encoding.UTF8.GetBytes(new string('x', size)), 1000, 61_000);

    [Fact]
    public async Task Enqueue_BeyondTheCount_RefusedForThatSubscriptionOnly()
    {
        await using var store = Open(maxPendingEvents: 3);
        for (int i = 0; i < 3; i++)
        {
            Assert.Null(await store.EnqueueAsync([Sized("slow", "e" + i), Sized("fast", "e" + i)]));
        }

        var refused = await store.EnqueueAsync([Sized("slow", "e3"), Sized("other", "e3")]);

        Assert.Equal(["slow"], refused);
        Assert.Equal((3L, 30L), await store.GetPendingQuotaAsync("slow"));
        Assert.Equal((3L, 0L), await store.CountAsync("slow"));
        Assert.Equal((1L, 0L), await store.CountAsync("other"));
    }

    [Fact]
    public async Task Enqueue_BeyondTheBytes_Refused()
    {
        await using var store = Open(maxPendingBytes: 25);
        Assert.Null(await store.EnqueueAsync([Sized("s", "a", 10), Sized("s", "b", 10)]));
        Assert.Equal(["s"], await store.EnqueueAsync([Sized("s", "c", 10)]));
        Assert.Null(await store.EnqueueAsync([Sized("s", "d", 5)]));
        Assert.Equal((3L, 25L), await store.GetPendingQuotaAsync("s"));
    }

    [Fact]
    public async Task DeliveredAcknowledgedAndDeadLettered_FreeTheirRoom()
    {
        await using var store = Open(maxPendingEvents: 3);
        await store.EnqueueAsync([Sized("push", "a"), Sized("push", "b"), Sized("push", "c")]);
        await store.EnqueueAsync([Sized("pull", "a"), Sized("pull", "b"), Sized("pull", "c")]);
        var due = await store.GetDueAsync("push", 1000, 10);
        await store.DeleteAsync([due[0]]);
        await store.DeadLetterAsync([due[1]], 1, DeadLetterReasons.DestinationRejected, "HTTP 400", 2000);
        var received = await store.ReceiveAsync("pull", 2, 1000, 60_000, 10, deadLetter: true);
        await store.AcknowledgeAsync("pull", [received[0].LockToken!], 1000);
        await store.RejectAsync("pull", [received[1].LockToken!], 1000, deadLetter: false);

        Assert.Equal((1L, 10L), await store.GetPendingQuotaAsync("push"));
        Assert.Equal((1L, 10L), await store.GetPendingQuotaAsync("pull"));
        Assert.Null(await store.EnqueueAsync([Sized("push", "d"), Sized("push", "e"), Sized("pull", "d"), Sized("pull", "e")]));

        // A dead letter put back counts again: the subscription is then full.
        Assert.Equal(1, await store.RedeliverAsync("push", null, 3000, 63_000));
        Assert.Equal((4L, 40L), await store.GetPendingQuotaAsync("push"));
        Assert.Equal(["push"], await store.EnqueueAsync([Sized("push", "f")]));
    }

    [Fact]
    public async Task Reopen_CountsFromTheTable()
    {
        await using (var store = Open())
        {
            await store.EnqueueAsync([Sized("s", "a"), Sized("s", "b"), Sized("t", "c")]);
        }

        await using var reopened = Open(maxPendingEvents: 2);
        Assert.Equal((2L, 20L), await reopened.GetPendingQuotaAsync("s"));
        Assert.Equal(["s"], await reopened.EnqueueAsync([Sized("s", "d"), Sized("t", "d")]));
    }

    [Fact]
    public async Task DeletedSubscription_StartsEmpty()
    {
        await using var store = Open(maxPendingEvents: 1);
        await store.EnqueueAsync([Sized("s", "a")]);
        await store.DeleteDefinitionAsync("subscriptions", "s");
        Assert.Equal((0L, 0L), await store.GetPendingQuotaAsync("s"));
        Assert.Null(await store.EnqueueAsync([Sized("s", "b")]));
    }

    // Enqueues the ids for the subscription and dead-letters them one by one, each a millisecond after the previous.
    private static async Task DeadLetterEachAsync(IRoutingStore store, string subscription, IEnumerable<string> ids, long startAt)
    {
        foreach (var id in ids)
        {
            await store.EnqueueAsync([Delivery(subscription, id, at: 1000, ttl: 60_000)]);
            var due = Assert.Single(await store.GetDueAsync(subscription, 1000, 10));
            await store.DeadLetterAsync([due], 1, DeadLetterReasons.MaxDeliveryAttemptsExceeded, "HTTP 500", startAt++);
        }
    }

    private static async Task<List<string>> DeadIdsAsync(IRoutingStore store, string subscription) =>
        [.. (await store.ListDeadLettersAsync(subscription, 100)).Select(d => d.EventId)];

    [Fact]
    public async Task DeadLetter_BeyondTheCap_DeletesTheOldestOfThatSubscriptionOnly()
    {
        await using var store = Open(maxDeadLetteredEvents: 3);
        await DeadLetterEachAsync(store, "other", ["o0", "o1"], 2000);
        await DeadLetterEachAsync(store, "down", ["e0", "e1", "e2", "e3", "e4"], 3000);

        Assert.Equal(["e2", "e3", "e4"], await DeadIdsAsync(store, "down"));
        Assert.Equal((0L, 3L), await store.CountAsync("down"));
        Assert.Equal(["o0", "o1"], await DeadIdsAsync(store, "other"));
        Assert.Equal([("down", 1), ("down", 1)], _evicted);
    }

    [Fact]
    public async Task Oldest_IsByTheTimeOfDeadLettering()
    {
        // e0 is enqueued first but dead-lettered last: it is the newest dead letter.
        await using var store = Open(maxDeadLetteredEvents: 2);
        await store.EnqueueAsync([Delivery("s", "e0"), Delivery("s", "e1"), Delivery("s", "e2")]);
        var due = await store.GetDueAsync("s", 1000, 10);
        await store.DeadLetterAsync([due[1]], 1, DeadLetterReasons.Rejected, null, 2000);
        await store.DeadLetterAsync([due[2]], 1, DeadLetterReasons.Rejected, null, 2001);
        await store.DeadLetterAsync([due[0]], 1, DeadLetterReasons.Rejected, null, 2002);

        Assert.Equal(["e2", "e0"], await DeadIdsAsync(store, "s"));
    }

    [Fact]
    public async Task Reopen_WithALowerCap_TrimsTheExcessAtTheNextDeadLetter()
    {
        await using (var store = Open(maxDeadLetteredEvents: 100))
        {
            await DeadLetterEachAsync(store, "s", ["e0", "e1", "e2", "e3"], 2000);
        }

        Assert.Empty(_evicted);
        await using var reopened = Open(maxDeadLetteredEvents: 2);
        await DeadLetterEachAsync(reopened, "s", ["e4"], 3000);

        Assert.Equal(["e3", "e4"], await DeadIdsAsync(reopened, "s"));
        Assert.Equal([("s", 3)], _evicted);
    }

    [Fact]
    public async Task Redelivered_DeadLetters_LeaveTheCount()
    {
        await using var store = Open(maxDeadLetteredEvents: 2);
        await DeadLetterEachAsync(store, "s", ["e0", "e1"], 2000);
        Assert.Equal(1, await store.RedeliverAsync("s", ["e0"], 3000, 63_000));
        await DeadLetterEachAsync(store, "s", ["e2"], 4000);

        Assert.Empty(_evicted);
        Assert.Equal(["e1", "e2"], await DeadIdsAsync(store, "s"));
        Assert.Equal((1L, 2L), await store.CountAsync("s"));
    }
}
