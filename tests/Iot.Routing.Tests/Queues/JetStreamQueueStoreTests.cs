using Iot.Routing.Queues;
using Iot.Routing.Queues.JetStream;
using Iot.TestUtilities;
using Iot.TestUtilities.Nats;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;

namespace Iot.Routing.Tests.Queues;

/// <summary>
/// The queue contract on JetStream key-value buckets of a real nats-server, and what only a shared store must do: two
/// stores on two connections are two nodes.
/// </summary>
[Trait("Category", "Integration")]
public sealed class JetStreamQueueStoreTests : QueueStoreContractTests, IClassFixture<OneNatsServer>
{
    private readonly OneNatsServer _server;
    private readonly string _prefix = "t" + Guid.NewGuid().ToString("N")[..8];
    private readonly List<NatsConnection> _connections = [];
    private readonly List<JetStreamQueueStore> _others = [];

    public JetStreamQueueStoreTests(OneNatsServer server) => _server = server;

    protected override IQueueStore CreateStore() => NewNode(Time);

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        foreach (var store in _others)
        {
            await store.DisposeAsync();
        }

        foreach (var connection in _connections)
        {
            await connection.DisposeAsync();
        }
    }

    [Fact]
    public async Task Send_SameMessageIdThroughTwoNodes_StoredOnce()
    {
        var b = await SecondNodeAsync();
        var first = await Store.SendAsync("q", [Message("a", "m1")]);
        var second = await b.SendAsync("q", [Message("b", "m1")]);
        Assert.True(second[0].Duplicate);
        Assert.Equal(first[0].SequenceNumber, second[0].SequenceNumber);

        // At the same moment on both nodes: each id is stored once, whichever node wins.
        var ids = Enumerable.Range(0, 20).Select(i => $"race-{i}").ToArray();
        var results = await Task.WhenAll(ids.SelectMany(id => new[]
        {
            Store.SendAsync("q", [Message("x", id)]),
            b.SendAsync("q", [Message("y", id)]),
        }));
        Assert.Equal(20, results.Count(r => !r[0].Duplicate));
        await Eventually.WaitUntilAsync(async () => (await b.GetStatisticsAsync("q")).Active == 21, TimeSpan.FromSeconds(10), "B sees 21 messages");
        Assert.Equal(21, (await Store.GetStatisticsAsync("q")).Active);
    }

    [Fact]
    public async Task WaitForMessages_SendThroughAnotherNode_Wakes()
    {
        var b = await SecondNodeAsync();
        var waiting = b.WaitForMessagesAsync("q", TimeSpan.FromSeconds(30));
        Assert.False(waiting.IsCompleted);
        await Store.SendAsync("q", [Message("a")]);
        Assert.True(await waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        var message = Assert.Single(await b.ReceiveAsync("q", new ReceiveRequest()));
        Assert.Equal("a", Text(message));
    }

    [Fact]
    public async Task Receive_TwoNodesCompeting_EachMessageLockedOnceAndCompletedOnTheOtherNode()
    {
        var b = await SecondNodeAsync();
        var sent = await Store.SendAsync("q", Enumerable.Range(0, 40).Select(i => Message($"m{i}")).ToList());
        await Eventually.WaitUntilAsync(async () => (await b.GetStatisticsAsync("q")).Active == 40, TimeSpan.FromSeconds(10), "B sees 40 messages");

        var onA = new List<ReceivedQueueMessage>();
        var onB = new List<ReceivedQueueMessage>();
        async Task DrainAsync(IQueueStore store, List<ReceivedQueueMessage> into)
        {
            while (true)
            {
                var batch = await store.ReceiveAsync("q", new ReceiveRequest { MaxMessages = 3 });
                if (batch.Count == 0)
                {
                    return;
                }

                into.AddRange(batch);
            }
        }

        await Task.WhenAll(DrainAsync(Store, onA), DrainAsync(b, onB));
        var all = onA.Concat(onB).Select(m => m.SequenceNumber).ToList();
        Assert.Equal(sent.Select(s => s.SequenceNumber).Order(), all.Order());

        // A lock taken on one node is settled on the other.
        foreach (var message in onA)
        {
            Assert.Equal(SettleResult.Success, await b.CompleteAsync("q", message.LockToken!));
        }

        foreach (var message in onB)
        {
            Assert.Equal(SettleResult.Success, await Store.CompleteAsync("q", message.LockToken!));
        }

        Time.Advance(TimeSpan.FromMinutes(2));
        Assert.Empty(await Store.ReceiveAsync("q", new ReceiveRequest { MaxMessages = 100 }));
        Assert.Empty(await b.ReceiveAsync("q", new ReceiveRequest { MaxMessages = 100 }));
    }

    [Fact]
    public async Task Sessions_AcceptOnTwoNodesAtOnce_OneHolder()
    {
        var b = await SecondNodeAsync();
        await Store.SendAsync("s", [Message("a1", sessionId: "A")]);
        var locks = await Task.WhenAll(Store.AcceptSessionAsync("s", "A"), b.AcceptSessionAsync("s", "A"));
        var holder = Assert.Single(locks, l => l is not null)!;
        var holderStore = locks[0] is not null ? Store : b;
        var other = locks[0] is not null ? b : Store;
        await Assert.ThrowsAsync<QueueException>(() => other.ReceiveAsync("s", new ReceiveRequest { SessionId = "A", SessionLockToken = "wrong" }));
        Assert.True(await holderStore.SetSessionStateAsync("s", "A", holder.LockToken, new byte[] { 7 }));
        Assert.Equal(new byte[] { 7 }, await other.GetSessionStateAsync("s", "A"));
        Assert.True(await other.ReleaseSessionAsync("s", "A", holder.LockToken));
        Assert.NotNull(await other.AcceptSessionAsync("s", "A"));
    }

    [Fact]
    public async Task CreateQueue_OnOneNode_KnownOnTheOther_DeleteToo()
    {
        var b = await SecondNodeAsync();
        await Store.CreateOrUpdateQueueAsync(new QueueProperties { Name = "late", MaxDeliveryCount = 5 });
        await Eventually.WaitUntilAsync(() => b.FindQueue("late")?.MaxDeliveryCount == 5, TimeSpan.FromSeconds(10), "B knows the queue");
        Assert.False(await b.CreateOrUpdateQueueAsync(new QueueProperties { Name = "late", MaxDeliveryCount = 7 }));
        await Eventually.WaitUntilAsync(() => Store.FindQueue("late")?.MaxDeliveryCount == 7, TimeSpan.FromSeconds(10), "A sees the change");
        var error = await Assert.ThrowsAsync<QueueException>(() => b.CreateOrUpdateQueueAsync(new QueueProperties { Name = "late", RequiresSession = true }));
        Assert.Contains("requiresSession", error.Message, StringComparison.Ordinal);

        Assert.True(await b.DeleteQueueAsync("late"));
        await Eventually.WaitUntilAsync(() => Store.FindQueue("late") is null, TimeSpan.FromSeconds(10), "A forgets the queue");
    }

    [Fact]
    public async Task Reopen_NewNode_SeesMessagesSessionsAndMessageIds()
    {
        await Store.SendAsync("q", [Message("done", "m-done"), Message("pending")]);
        var done = (await Store.ReceiveAsync("q", new ReceiveRequest()))[0];
        Assert.Equal(SettleResult.Success, await Store.CompleteAsync("q", done.LockToken!));
        await Store.SendAsync("s", [Message("s1", sessionId: "A")]);
        var session = await Store.AcceptSessionAsync("s", "A");
        Assert.True(await Store.SetSessionStateAsync("s", "A", session!.LockToken, new byte[] { 1, 2 }));

        var fresh = await SecondNodeAsync();
        Assert.Equal(3, fresh.FindQueue("q")!.MaxDeliveryCount);
        Assert.True(fresh.FindQueue("s")!.RequiresSession);
        Time.Advance(TimeSpan.FromMinutes(2));
        var remaining = await fresh.ReceiveAsync("q", new ReceiveRequest { MaxMessages = 10 });
        Assert.Equal(["pending"], remaining.Select(Text));
        Assert.Equal(new byte[] { 1, 2 }, await fresh.GetSessionStateAsync("s", "A"));
        Assert.True((await fresh.SendAsync("q", [Message("again", "m-done")]))[0].Duplicate);
    }

    [Fact]
    public async Task Sweep_AfterTheDuplicateWindow_PurgesWhatCompletedMessagesLeft_KeepsPendingMessagesAndRecentOnes()
    {
        // The server stamps entries with its own clock: bring the test clock to it first.
        Time.SetUtcNow(DateTimeOffset.UtcNow);
        var store = (JetStreamQueueStore)Store;
        await Store.SendAsync("q", [Message("done-with-id", "a"), Message("done-without-id"), Message("pending", "c")]);
        var received = await Store.ReceiveAsync("q", new ReceiveRequest { MaxMessages = 3 });
        foreach (var message in received.Where(m => Text(m).StartsWith("done", StringComparison.Ordinal)))
        {
            Assert.Equal(SettleResult.Success, await Store.CompleteAsync("q", message.LockToken!));
        }

        // Within the window nothing goes.
        Assert.Equal((0, 0), await store.SweepAsync(CancellationToken.None));
        Assert.True((await Store.SendAsync("q", [Message("again", "a")]))[0].Duplicate);

        // After the window and the margin: the two completions' markers and both message-id records go.
        Time.Advance(Store.FindQueue("q")!.DuplicateDetectionWindow + JetStreamQueueStore.SweepMargin + TimeSpan.FromMinutes(1));
        Assert.Equal((2, 2), await store.SweepAsync(CancellationToken.None));
        Assert.Equal((0, 0), await store.SweepAsync(CancellationToken.None));

        // The pending message is still there (its lock expired meanwhile), and its id is new again after the window.
        Assert.Equal(["pending"], (await Store.ReceiveAsync("q", new ReceiveRequest { MaxMessages = 10 })).Select(Text));
        Assert.False((await Store.SendAsync("q", [Message("new", "a")]))[0].Duplicate);
        var fresh = await SecondNodeAsync();
        Assert.Equal(2, (await fresh.GetStatisticsAsync("q")).Active);
    }

    [Fact]
    public async Task Receive_IndexStillHoldsAMessageCompletedElsewhere_DropsItOnceTheReadFindsTheDeleteMarker()
    {
        var b = await SecondNodeAsync();
        await Store.SendAsync("q", [Message("done elsewhere")]);
        await Eventually.WaitUntilAsync(async () => (await b.GetStatisticsAsync("q")).Active == 1, TimeSpan.FromSeconds(10), "B sees the message");
        var stale = Assert.Single((await ((JetStreamQueueStore)Store).IndexForTestsAsync("q")).Range(0, 10, deadLetterQueue: false));
        var received = Assert.Single(await b.ReceiveAsync("q", new ReceiveRequest()));
        Assert.Equal(SettleResult.Success, await b.CompleteAsync("q", received.LockToken!));
        await Eventually.WaitUntilAsync(async () => (await Store.GetStatisticsAsync("q")).Active == 0, TimeSpan.FromSeconds(10), "A sees the completion");

        // As when this node's watch lost the delete marker: its index holds the message as it was before.
        var index = await ((JetStreamQueueStore)Store).IndexForTestsAsync("q");
        index.Written(stale.Key, stale.Revision, stale.Seq, stale.Header, stale.Body);
        Assert.Equal(1, (await Store.GetStatisticsAsync("q")).Active);

        Assert.Empty(await Store.ReceiveAsync("q", new ReceiveRequest()));
        Assert.Equal(0, (await Store.GetStatisticsAsync("q")).Active);
    }

    [Fact]
    public async Task Send_RepeatedOnANodeWhoseWatchHasNotBroughtTheFirst_IsADuplicate_AndThatNodeOffersTheMessageAtOnce()
    {
        var b = await SecondNodeAsync();
        Assert.False((await Store.SendAsync("q", [Message("first", "id-1")]))[0].Duplicate);
        await Eventually.WaitUntilAsync(async () => (await b.GetStatisticsAsync("q")).Active == 1, TimeSpan.FromSeconds(10), "B sees the message");

        // As when B's watch has not brought the message yet (its consumer's NATS server died, and the sender's node
        // died before it answered, so the sender repeats the send on B): B's index does not hold it.
        var index = await b.IndexForTestsAsync("q");
        index.Deleted(Assert.Single(index.Range(0, 10, deadLetterQueue: false)).Key, revision: 0);
        Assert.Equal(0, (await b.GetStatisticsAsync("q")).Active);

        Assert.True((await b.SendAsync("q", [Message("first", "id-1")]))[0].Duplicate);
        Assert.Equal(1, (await b.GetStatisticsAsync("q")).Active);
        Assert.Equal(["first"], (await b.ReceiveAsync("q", new ReceiveRequest { MaxMessages = 10 })).Select(Text));
    }

    /// <summary>Another node: its own connection and store on the same buckets, started (knows every queue).</summary>
    private async Task<JetStreamQueueStore> SecondNodeAsync()
    {
        var store = NewNode(Time);
        _others.Add(store);
        await store.StartAsync();
        return store;
    }

    private JetStreamQueueStore NewNode(TimeProvider time)
    {
        var connection = _server.Nats.CreateConnection(0);
        _connections.Add(connection);
        return new JetStreamQueueStore(new NatsKVContext(new NatsJSContext(connection)), replicas: 1, time, prefix: _prefix);
    }
}
