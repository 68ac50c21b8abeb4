using System.Text;
using Iot.Routing.Internal;

namespace Iot.Routing.Tests.Internal;

public sealed class RoutingStoreQuotaTests : IDisposable
{
    private readonly TestDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    private static PendingDelivery Delivery(string subscription, string id, int size = 10) =>
        new(subscription, id, Encoding.UTF8.GetBytes(new string('x', size)), 1000, 61_000);

    [Fact]
    public async Task Enqueue_BeyondTheCount_RefusedForThatSubscriptionOnly()
    {
        await using var store = new SqliteRoutingStore(_directory.Database, maxPendingEvents: 3);
        for (int i = 0; i < 3; i++)
        {
            Assert.Null(await store.EnqueueAsync([Delivery("slow", "e" + i), Delivery("fast", "e" + i)]));
        }

        var refused = await store.EnqueueAsync([Delivery("slow", "e3"), Delivery("other", "e3")]);

        Assert.Equal(["slow"], refused);
        Assert.Equal((3L, 30L), await store.GetPendingQuotaAsync("slow"));
        Assert.Equal((3L, 0L), await store.CountAsync("slow"));
        Assert.Equal((1L, 0L), await store.CountAsync("other"));
    }

    [Fact]
    public async Task Enqueue_BeyondTheBytes_Refused()
    {
        await using var store = new SqliteRoutingStore(_directory.Database, maxPendingBytes: 25);
        Assert.Null(await store.EnqueueAsync([Delivery("s", "a", 10), Delivery("s", "b", 10)]));
        Assert.Equal(["s"], await store.EnqueueAsync([Delivery("s", "c", 10)]));
        Assert.Null(await store.EnqueueAsync([Delivery("s", "d", 5)]));
        Assert.Equal((3L, 25L), await store.GetPendingQuotaAsync("s"));
    }

    [Fact]
    public async Task DeliveredAcknowledgedAndDeadLettered_FreeTheirRoom()
    {
        await using var store = new SqliteRoutingStore(_directory.Database, maxPendingEvents: 3);
        await store.EnqueueAsync([Delivery("push", "a"), Delivery("push", "b"), Delivery("push", "c")]);
        await store.EnqueueAsync([Delivery("pull", "a"), Delivery("pull", "b"), Delivery("pull", "c")]);
        var due = await store.GetDueAsync("push", 1000, 10);
        await store.DeleteAsync([due[0]]);
        await store.DeadLetterAsync([due[1]], 1, DeadLetterReasons.DestinationRejected, "HTTP 400", 2000);
        var received = await store.ReceiveAsync("pull", 2, 1000, 60_000, 10, deadLetter: true);
        await store.AcknowledgeAsync("pull", [received[0].LockToken!], 1000);
        await store.RejectAsync("pull", [received[1].LockToken!], 1000, deadLetter: false);

        Assert.Equal((1L, 10L), await store.GetPendingQuotaAsync("push"));
        Assert.Equal((1L, 10L), await store.GetPendingQuotaAsync("pull"));
        Assert.Null(await store.EnqueueAsync([Delivery("push", "d"), Delivery("push", "e"), Delivery("pull", "d"), Delivery("pull", "e")]));

        // A dead letter put back counts again: the subscription is then full.
        Assert.Equal(1, await store.RedeliverAsync("push", null, 3000, 63_000));
        Assert.Equal((4L, 40L), await store.GetPendingQuotaAsync("push"));
        Assert.Equal(["push"], await store.EnqueueAsync([Delivery("push", "f")]));
    }

    [Fact]
    public async Task Reopen_CountsFromTheTable()
    {
        await using (var store = new SqliteRoutingStore(_directory.Database))
        {
            await store.EnqueueAsync([Delivery("s", "a"), Delivery("s", "b"), Delivery("t", "c")]);
        }

        await using var reopened = new SqliteRoutingStore(_directory.Database, maxPendingEvents: 2);
        Assert.Equal((2L, 20L), await reopened.GetPendingQuotaAsync("s"));
        Assert.Equal(["s"], await reopened.EnqueueAsync([Delivery("s", "d"), Delivery("t", "d")]));
    }

    [Fact]
    public async Task DeletedSubscription_StartsEmpty()
    {
        await using var store = new SqliteRoutingStore(_directory.Database, maxPendingEvents: 1);
        await store.EnqueueAsync([Delivery("s", "a")]);
        await store.DeleteDefinitionAsync("subscriptions", "s");
        Assert.Equal((0L, 0L), await store.GetPendingQuotaAsync("s"));
        Assert.Null(await store.EnqueueAsync([Delivery("s", "b")]));
    }
}
