using System.Text;
using Iot.Routing.Internal;

namespace Iot.Routing.Tests.Internal;

public sealed class RoutingStoreDeadLetterCapTests : IDisposable
{
    private readonly TestDirectory _directory = new();
    private readonly List<(string Subscription, int Count)> _evicted = [];

    public void Dispose() => _directory.Dispose();

    private static PendingDelivery Delivery(string subscription, string id) =>
        new(subscription, id, Encoding.UTF8.GetBytes(id), 1000, 61_000);

    private SqliteRoutingStore Open(int maxDeadLettered) =>
        new(_directory.Database, maxDeadLetteredEvents: maxDeadLettered, deadLettersEvicted: (s, n) => { lock (_evicted) { _evicted.Add((s, n)); } });

    // Enqueues the ids for the subscription and dead-letters them one by one, each a millisecond after the previous.
    private static async Task DeadLetterEachAsync(SqliteRoutingStore store, string subscription, IEnumerable<string> ids, long startAt)
    {
        foreach (var id in ids)
        {
            await store.EnqueueAsync([Delivery(subscription, id)]);
            var due = Assert.Single(await store.GetDueAsync(subscription, 1000, 10));
            await store.DeadLetterAsync([due], 1, DeadLetterReasons.MaxDeliveryAttemptsExceeded, "HTTP 500", startAt++);
        }
    }

    private static async Task<List<string>> DeadIdsAsync(SqliteRoutingStore store, string subscription) =>
        [.. (await store.ListDeadLettersAsync(subscription, 100)).Select(d => d.EventId)];

    [Fact]
    public async Task DeadLetter_BeyondTheCap_DeletesTheOldestOfThatSubscriptionOnly()
    {
        await using var store = Open(maxDeadLettered: 3);
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
        await using var store = Open(maxDeadLettered: 2);
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
        await using (var store = Open(maxDeadLettered: 100))
        {
            await DeadLetterEachAsync(store, "s", ["e0", "e1", "e2", "e3"], 2000);
        }

        Assert.Empty(_evicted);
        await using var reopened = Open(maxDeadLettered: 2);
        await DeadLetterEachAsync(reopened, "s", ["e4"], 3000);

        Assert.Equal(["e3", "e4"], await DeadIdsAsync(reopened, "s"));
        Assert.Equal([("s", 3)], _evicted);
    }

    [Fact]
    public async Task Redelivered_DeadLetters_LeaveTheCount()
    {
        await using var store = Open(maxDeadLettered: 2);
        await DeadLetterEachAsync(store, "s", ["e0", "e1"], 2000);
        Assert.Equal(1, await store.RedeliverAsync("s", ["e0"], 3000, 63_000));
        await DeadLetterEachAsync(store, "s", ["e2"], 4000);

        Assert.Empty(_evicted);
        Assert.Equal(["e1", "e2"], await DeadIdsAsync(store, "s"));
        Assert.Equal((1L, 2L), await store.CountAsync("s"));
    }
}
