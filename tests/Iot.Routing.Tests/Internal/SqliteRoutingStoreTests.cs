using System.Text;
using Iot.Routing.Internal;

namespace Iot.Routing.Tests.Internal;

public sealed class SqliteRoutingStoreTests : RoutingStoreContractTests, IDisposable
{
    private readonly TestDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    private protected override IRoutingStore Open(int maxPendingEvents = int.MaxValue, long maxPendingBytes = long.MaxValue,
        int maxDeadLetteredEvents = int.MaxValue) =>
        new SqliteRoutingStore(_directory.Database, maxPendingEvents: maxPendingEvents, maxPendingBytes: maxPendingBytes,
            maxDeadLetteredEvents: maxDeadLetteredEvents, deadLettersEvicted: ReportEvicted);

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
