using System.Text;
using Iot.Routing.Internal;

namespace Iot.Routing.Tests.Internal;

public sealed class RoutingStoreTests : IDisposable
{
    private readonly TestDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    private static PendingDelivery Delivery(string subscription, string id, long at = 1000, long ttl = 60_000) =>
        new(subscription, id, Encoding.UTF8.GetBytes($$"""{"id":"{{id}}"}"""), at, at + ttl);

    [Fact]
    public async Task Enqueue_Reopen_DeliveriesAndDefinitionsSurvive()
    {
        await using (var store = new SqliteRoutingStore(_directory.Database))
        {
            await store.EnqueueAsync([Delivery("a", "e1"), Delivery("a", "e2"), Delivery("b", "e3")]);
            await store.SaveDefinitionAsync("routes", "r1", """{"name":"r1"}""");
            await store.SaveDefinitionAsync("subscriptions", "a", """{"name":"a"}""");
        }

        await using var reopened = new SqliteRoutingStore(_directory.Database);
        var due = await reopened.GetDueAsync("a", now: 1000, max: 10);
        Assert.Equal(["e1", "e2"], due.Select(d => d.EventId));
        Assert.Equal("""{"id":"e1"}""", Encoding.UTF8.GetString(due[0].Event));
        Assert.Equal(61_000, due[0].ExpiresAt);
        Assert.Equal([("r1", """{"name":"r1"}""")], reopened.ReadDefinitions("routes"));
        Assert.Single(reopened.ReadDefinitions("subscriptions"));
    }

    [Fact]
    public async Task RecordFailures_NotDueUntilNextAttempt()
    {
        await using var store = new SqliteRoutingStore(_directory.Database);
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
        await using var store = new SqliteRoutingStore(_directory.Database);
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
        await using var store = new SqliteRoutingStore(_directory.Database);
        await store.SaveDefinitionAsync("subscriptions", "a", "{}");
        await store.EnqueueAsync([Delivery("a", "e1"), Delivery("b", "e2")]);
        Assert.Equal(1, await store.DeleteDefinitionAsync("subscriptions", "a"));
        Assert.Equal((0L, 0L), await store.CountAsync("a"));
        Assert.Equal((1L, 0L), await store.CountAsync("b"));
    }

    [Fact]
    public async Task ExecuteAsync_FailingOperation_FailsAloneInItsGroupCommit()
    {
        await using var store = new SqliteRoutingStore(_directory.Database);
        var good = store.EnqueueAsync([Delivery("a", "e1")]);
        var bad = store.ExecuteAsync<int>(connection => throw new InvalidOperationException("boom"));
        var alsoGood = store.EnqueueAsync([Delivery("a", "e2")]);

        await good;
        await alsoGood;
        await Assert.ThrowsAsync<InvalidOperationException>(() => bad);
        Assert.Equal((2L, 0L), await store.CountAsync("a"));
    }

    [Fact]
    public async Task Receive_LockAcknowledgeReleaseRejectRenew_SettleByToken()
    {
        await using var store = new SqliteRoutingStore(_directory.Database);
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

    [Fact]
    public async Task Open_Database_IsWalWithFullSync()
    {
        await using var store = new SqliteRoutingStore(_directory.Database);
        var (journal, synchronous) = await store.ExecuteAsync(connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA journal_mode";
            var mode = (string)command.ExecuteScalar()!;
            command.CommandText = "PRAGMA synchronous";
            return (mode, (long)command.ExecuteScalar()!);
        });
        Assert.Equal(("wal", 2L), (journal, synchronous));
    }
}
