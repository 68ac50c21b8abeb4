using Iot.Routing.Queues;
using Iot.Routing.Tests.Internal;

namespace Iot.Routing.Tests.Queues;

#pragma warning disable CA1001 // Disposed in DisposeAsync (IAsyncLifetime).
public sealed class SqliteQueueStoreTests : QueueStoreContractTests
#pragma warning restore CA1001
{
    private readonly TestDirectory _directory = new();

    private string DatabasePath => Path.Combine(_directory.Path, "queues.db");

    protected override IQueueStore CreateStore() => new SqliteQueueStore(DatabasePath, Time);

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        _directory.Dispose();
    }

    [Fact]
    public async Task Reopen_SentMessagesAndQueuesSurvive_CompletedStayGone()
    {
        await Store.SendAsync("q", [Message("done", "m-done"), Message("pending")]);
        await Store.SendAsync("s", [Message("s1", sessionId: "A")]);
        var done = (await Store.ReceiveAsync("q", new ReceiveRequest()))[0];
        Assert.Equal(SettleResult.Success, await Store.CompleteAsync("q", done.LockToken!));
        var session = await Store.AcceptSessionAsync("s", "A");
        await Store.SetSessionStateAsync("s", "A", session!.LockToken, new byte[] { 1, 2 });
        await ((SqliteQueueStore)Store).DisposeAsync();

        await using var reopened = new SqliteQueueStore(DatabasePath, Time);
        Assert.Equal(3, reopened.FindQueue("q")!.MaxDeliveryCount);
        Assert.True(reopened.FindQueue("s")!.RequiresSession);
        Time.Advance(TimeSpan.FromMinutes(2));
        var remaining = await reopened.ReceiveAsync("q", new ReceiveRequest { MaxMessages = 10 });
        Assert.Equal(["pending"], remaining.Select(Text));
        Assert.Equal(new byte[] { 1, 2 }, await reopened.GetSessionStateAsync("s", "A"));
        Assert.True((await reopened.SendAsync("q", [Message("again", "m-done")]))[0].Duplicate);
    }

    [Fact]
    public async Task Reopen_UnreadableQueueDefinitionBetweenGoodOnes_CostsOnlyThatQueue()
    {
        await Store.CreateOrUpdateQueueAsync(new QueueProperties { Name = "a" });
        await Store.CreateOrUpdateQueueAsync(new QueueProperties { Name = "c", MaxDeliveryCount = 7 });
        await ((SqliteQueueStore)Store).DisposeAsync();
        using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={DatabasePath};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "INSERT INTO queues(name, definition) VALUES ('b', '{\"name\":'), ('b2', 'null');";
            command.ExecuteNonQuery();
        }

        await using var reopened = new SqliteQueueStore(DatabasePath, Time);
        Assert.NotNull(reopened.FindQueue("a"));
        Assert.Equal(7, reopened.FindQueue("c")!.MaxDeliveryCount);
        Assert.Null(reopened.FindQueue("b"));
        Assert.Equal(["b", "b2"], reopened.SkippedDefinitions.Select(s => s.Name));
    }

    [Fact]
    public async Task CreateOrUpdate_ChangingRequiresSession_Throws()
    {
        var error = await Assert.ThrowsAsync<QueueException>(() =>
            Store.CreateOrUpdateQueueAsync(new QueueProperties { Name = "q", RequiresSession = true }));
        Assert.Contains("requiresSession", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CreateOrUpdate_InvalidLockDuration_NamesTheField()
    {
        var error = await Assert.ThrowsAsync<QueueException>(() =>
            Store.CreateOrUpdateQueueAsync(new QueueProperties { Name = "x", LockDuration = TimeSpan.FromMinutes(10) }));
        Assert.Contains("lockDuration", error.Message, StringComparison.Ordinal);
    }
}
