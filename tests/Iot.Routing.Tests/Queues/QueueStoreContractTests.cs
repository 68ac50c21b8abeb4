using System.Text;
using Iot.Routing.Queues;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Routing.Tests.Queues;

/// <summary>The <see cref="IQueueStore"/> contract (Service Bus semantics); each implementation inherits it.</summary>
public abstract class QueueStoreContractTests : IAsyncLifetime
{
    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));

    protected IQueueStore Store { get; private set; } = null!;

    /// <summary>Creates an empty store on <see cref="Time"/>.</summary>
    protected abstract IQueueStore CreateStore();

    public virtual async Task InitializeAsync()
    {
        Store = CreateStore();
        await Store.CreateOrUpdateQueueAsync(new QueueProperties { Name = "q", MaxDeliveryCount = 3 });
        await Store.CreateOrUpdateQueueAsync(new QueueProperties { Name = "s", RequiresSession = true, LockDuration = TimeSpan.FromSeconds(30) });
    }

    public virtual async Task DisposeAsync()
    {
        if (Store is IAsyncDisposable disposable)
        {
            await disposable.DisposeAsync();
        }
    }

    protected static QueueMessage Message(string body, string? messageId = null, string? sessionId = null, int priority = 0,
        TimeSpan? ttl = null, DateTimeOffset? scheduled = null) =>
        new()
        {
            Body = Encoding.UTF8.GetBytes(body),
            MessageId = messageId,
            SessionId = sessionId,
            Priority = priority,
            TimeToLive = ttl,
            ScheduledEnqueueTime = scheduled,
        };

    protected static string Text(ReceivedQueueMessage message) => Encoding.UTF8.GetString(message.Body);

    protected async Task<ReceivedQueueMessage?> ReceiveOneAsync(string queue = "q", ReceiveMode mode = ReceiveMode.PeekLock)
    {
        var messages = await Store.ReceiveAsync(queue, new ReceiveRequest { Mode = mode });
        return messages.Count == 0 ? null : messages[0];
    }

    [Fact]
    public async Task Complete_Received_NeverDeliveredAgain()
    {
        await Store.SendAsync("q", [Message("a")]);
        var message = await ReceiveOneAsync();
        Assert.NotNull(message);
        Assert.Equal("a", Text(message));
        Assert.Equal(1, message.DeliveryCount);
        Assert.Equal(Time.GetUtcNow() + TimeSpan.FromSeconds(60), message.LockedUntil);

        Assert.Equal(SettleResult.Success, await Store.CompleteAsync("q", message.LockToken!));
        Time.Advance(TimeSpan.FromMinutes(5));
        Assert.Null(await ReceiveOneAsync());
        Assert.Equal(SettleResult.LockLost, await Store.CompleteAsync("q", message.LockToken!));
    }

    [Fact]
    public async Task Receive_Locked_NotDeliveredToOtherReceiverUntilLockExpires()
    {
        await Store.SendAsync("q", [Message("a")]);
        var first = await ReceiveOneAsync();
        Assert.Null(await ReceiveOneAsync());

        Time.Advance(TimeSpan.FromSeconds(59));
        Assert.Null(await ReceiveOneAsync());
        Time.Advance(TimeSpan.FromSeconds(1));
        var second = await ReceiveOneAsync();
        Assert.NotNull(second);
        Assert.Equal(2, second.DeliveryCount);
        Assert.Equal(SettleResult.LockLost, await Store.CompleteAsync("q", first!.LockToken!));
        Assert.Equal(SettleResult.Success, await Store.CompleteAsync("q", second.LockToken!));
    }

    [Fact]
    public async Task RenewLock_BeforeExpiry_ExtendsLock()
    {
        await Store.SendAsync("q", [Message("a")]);
        var message = await ReceiveOneAsync();
        Time.Advance(TimeSpan.FromSeconds(50));
        Assert.Equal(Time.GetUtcNow() + TimeSpan.FromSeconds(60), await Store.RenewLockAsync("q", message!.LockToken!));
        Time.Advance(TimeSpan.FromSeconds(50));
        Assert.Null(await ReceiveOneAsync());
        Assert.Equal(SettleResult.Success, await Store.CompleteAsync("q", message.LockToken!));
    }

    [Fact]
    public async Task RenewLock_AfterExpiry_ReturnsNull()
    {
        await Store.SendAsync("q", [Message("a")]);
        var message = await ReceiveOneAsync();
        Time.Advance(TimeSpan.FromSeconds(61));
        Assert.Null(await Store.RenewLockAsync("q", message!.LockToken!));
    }

    [Fact]
    public async Task Abandon_MessageAvailableAtOnce()
    {
        await Store.SendAsync("q", [Message("a")]);
        var message = await ReceiveOneAsync();
        Assert.Equal(SettleResult.Success, await Store.AbandonAsync("q", message!.LockToken!));
        var again = await ReceiveOneAsync();
        Assert.Equal(2, again!.DeliveryCount);
    }

    [Fact]
    public async Task Abandon_AtMaxDeliveryCount_DeadLettersWithReason()
    {
        await Store.SendAsync("q", [Message("a")]);
        for (int i = 1; i < 3; i++)
        {
            Assert.Equal(SettleResult.Success, await Store.AbandonAsync("q", (await ReceiveOneAsync())!.LockToken!));
        }

        Assert.Equal(SettleResult.DeadLettered, await Store.AbandonAsync("q", (await ReceiveOneAsync())!.LockToken!));
        Assert.Null(await ReceiveOneAsync());
        var dead = Assert.Single(await Store.PeekAsync("q", 0, 10, deadLetterQueue: true));
        Assert.Equal(QueueDeadLetterReasons.MaxDeliveryCountExceeded, dead.DeadLetterReason);
        Assert.Equal(QueueMessageState.DeadLettered, dead.State);
        Assert.Equal(3, dead.DeliveryCount);
    }

    [Fact]
    public async Task LockExpiry_AtMaxDeliveryCount_DeadLettersOnNextReceive()
    {
        await Store.SendAsync("q", [Message("a")]);
        for (int i = 0; i < 3; i++)
        {
            Assert.NotNull(await ReceiveOneAsync());
            Time.Advance(TimeSpan.FromSeconds(61));
        }

        Assert.Null(await ReceiveOneAsync());
        var stats = await Store.GetStatisticsAsync("q");
        Assert.Equal(0, stats.Active);
        Assert.Equal(1, stats.DeadLettered);
    }

    [Fact]
    public async Task DeadLetter_WithReason_ReceivedFromDeadLetterQueue()
    {
        await Store.SendAsync("q", [Message("a")]);
        var message = await ReceiveOneAsync();
        Assert.Equal(SettleResult.Success, await Store.DeadLetterAsync("q", message!.LockToken!, "BadFormat", "field x missing"));
        Assert.Null(await ReceiveOneAsync());

        var dead = Assert.Single(await Store.ReceiveAsync("q", new ReceiveRequest { DeadLetterQueue = true }));
        Assert.Equal("BadFormat", dead.DeadLetterReason);
        Assert.Equal("field x missing", dead.DeadLetterErrorDescription);
        Assert.Equal(SettleResult.Success, await Store.CompleteAsync("q", dead.LockToken!));
        Assert.Equal(0, (await Store.GetStatisticsAsync("q")).DeadLettered);
    }

    [Fact]
    public async Task Defer_ReceivedOnlyBySequenceNumber()
    {
        var sent = await Store.SendAsync("q", [Message("a"), Message("b")]);
        var a = await ReceiveOneAsync();
        Assert.Equal(SettleResult.Success, await Store.DeferAsync("q", a!.LockToken!));
        var b = await ReceiveOneAsync();
        Assert.Equal("b", Text(b!));
        await Store.CompleteAsync("q", b!.LockToken!);
        Assert.Null(await ReceiveOneAsync());
        Assert.Equal(1, (await Store.GetStatisticsAsync("q")).Deferred);

        var deferred = Assert.Single(await Store.ReceiveDeferredAsync("q", [sent[0].SequenceNumber]));
        Assert.Equal("a", Text(deferred));
        Assert.Equal(QueueMessageState.Deferred, deferred.State);
        Assert.Equal(SettleResult.Success, await Store.CompleteAsync("q", deferred.LockToken!));
        Assert.Empty(await Store.ReceiveDeferredAsync("q", [sent[0].SequenceNumber]));
    }

    [Fact]
    public async Task ReceiveAndDelete_MessageGoneAfterReceive()
    {
        await Store.SendAsync("q", [Message("a")]);
        var message = await ReceiveOneAsync(mode: ReceiveMode.ReceiveAndDelete);
        Assert.Equal("a", Text(message!));
        Assert.Null(message!.LockToken);
        Time.Advance(TimeSpan.FromMinutes(2));
        Assert.Null(await ReceiveOneAsync());
    }

    [Fact]
    public async Task Ttl_Expired_DroppedByDefault()
    {
        await Store.SendAsync("q", [Message("a", ttl: TimeSpan.FromSeconds(10))]);
        Time.Advance(TimeSpan.FromSeconds(10));
        Assert.Null(await ReceiveOneAsync());
        var stats = await Store.GetStatisticsAsync("q");
        Assert.Equal(0, stats.Active + stats.DeadLettered);
    }

    [Fact]
    public async Task Ttl_QueueDefaultWithDeadLettering_DeadLettersWithTtlExpiredException()
    {
        await Store.CreateOrUpdateQueueAsync(new QueueProperties
        {
            Name = "ttl",
            DefaultMessageTimeToLive = TimeSpan.FromMinutes(1),
            DeadLetteringOnMessageExpiration = true,
        });
        await Store.SendAsync("ttl", [Message("a"), Message("b", ttl: TimeSpan.FromHours(1))]);
        Time.Advance(TimeSpan.FromSeconds(59));
        var a = await ReceiveOneAsync("ttl");
        Assert.Equal("a", Text(a!));
        Time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(SettleResult.Success, await Store.AbandonAsync("ttl", a!.LockToken!));
        Assert.Null(await ReceiveOneAsync("ttl"));
        var dead = await Store.PeekAsync("ttl", 0, 10, deadLetterQueue: true);
        Assert.Equal(["a", "b"], dead.Select(Text));
        Assert.All(dead, d => Assert.Equal(QueueDeadLetterReasons.TtlExpired, d.DeadLetterReason));
    }

    [Fact]
    public async Task Send_DuplicateMessageIdWithinWindow_StoredOnce()
    {
        var first = await Store.SendAsync("q", [Message("a", "m1")]);
        var second = await Store.SendAsync("q", [Message("b", "m1"), Message("c", "m1")]);
        Assert.False(first[0].Duplicate);
        Assert.All(second, r => Assert.True(r.Duplicate));
        Assert.Equal(first[0].SequenceNumber, second[0].SequenceNumber);
        Assert.Equal(1, (await Store.GetStatisticsAsync("q")).Active);

        var message = await ReceiveOneAsync();
        await Store.CompleteAsync("q", message!.LockToken!);
        Time.Advance(TimeSpan.FromMinutes(9));
        Assert.True((await Store.SendAsync("q", [Message("d", "m1")]))[0].Duplicate);
        Assert.Null(await ReceiveOneAsync());

        Time.Advance(TimeSpan.FromMinutes(1));
        Assert.False((await Store.SendAsync("q", [Message("e", "m1")]))[0].Duplicate);
        Assert.Equal("e", Text((await ReceiveOneAsync())!));
    }

    [Fact]
    public async Task WaitForMessages_SendWakesEveryWaiter_ElseTimesOut()
    {
        var first = Store.WaitForMessagesAsync("q", TimeSpan.FromSeconds(30));
        var second = Store.WaitForMessagesAsync("q", TimeSpan.FromSeconds(30));
        Assert.False(first.IsCompleted);
        await Store.SendAsync("q", [Message("a")]);
        Assert.True(await first.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(await second.WaitAsync(TimeSpan.FromSeconds(10)));

        var idle = Store.WaitForMessagesAsync("q", TimeSpan.FromSeconds(30));
        Time.Advance(TimeSpan.FromSeconds(30));
        Assert.False(await idle.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Send_WithoutMessageId_NeverDuplicate()
    {
        var results = await Store.SendAsync("q", [Message("a"), Message("a")]);
        Assert.All(results, r => Assert.False(r.Duplicate));
        Assert.NotEqual(results[0].SequenceNumber, results[1].SequenceNumber);
        var received = await Store.ReceiveAsync("q", new ReceiveRequest { MaxMessages = 10 });
        Assert.Equal(2, received.Select(m => m.MessageId).Distinct().Count());
    }

    [Fact]
    public async Task Receive_Priority_HigherFirstThenSendOrder()
    {
        await Store.SendAsync("q", [Message("low1"), Message("high1", priority: 5), Message("low2"), Message("high2", priority: 5)]);
        var messages = await Store.ReceiveAsync("q", new ReceiveRequest { MaxMessages = 10 });
        Assert.Equal(["high1", "high2", "low1", "low2"], messages.Select(Text));
    }

    [Fact]
    public async Task Scheduled_AvailableAtItsTime_CancelRemovesIt()
    {
        var at = Time.GetUtcNow() + TimeSpan.FromMinutes(5);
        var sent = await Store.SendAsync("q", [Message("later", scheduled: at), Message("cancelled", scheduled: at)]);
        Assert.Null(await ReceiveOneAsync());
        var stats = await Store.GetStatisticsAsync("q");
        Assert.Equal((0, 2), (stats.Active, stats.Scheduled));

        Assert.True(await Store.CancelScheduledMessageAsync("q", sent[1].SequenceNumber));
        Assert.False(await Store.CancelScheduledMessageAsync("q", sent[1].SequenceNumber));
        Time.Advance(TimeSpan.FromMinutes(5));
        Assert.False(await Store.CancelScheduledMessageAsync("q", sent[0].SequenceNumber));
        var message = await ReceiveOneAsync();
        Assert.Equal("later", Text(message!));
        Assert.Equal(at, message!.ScheduledEnqueueTime);
        Assert.Null(await ReceiveOneAsync());
    }

    [Fact]
    public async Task Peek_DoesNotLockOrCount()
    {
        await Store.SendAsync("q", [Message("a"), Message("b")]);
        var peeked = await Store.PeekAsync("q", 0, 10, deadLetterQueue: false);
        Assert.Equal(["a", "b"], peeked.Select(Text));
        Assert.All(peeked, p => Assert.Null(p.LockToken));
        var received = await ReceiveOneAsync();
        Assert.Equal(1, received!.DeliveryCount);
        var after = await Store.PeekAsync("q", peeked[1].SequenceNumber, 10, deadLetterQueue: false);
        Assert.Equal("b", Text(Assert.Single(after)));
    }

    [Fact]
    public async Task Statistics_CountsAndOldestAge()
    {
        await Store.SendAsync("q", [Message("a")]);
        Time.Advance(TimeSpan.FromSeconds(30));
        await Store.SendAsync("q", [Message("b"), Message("c", scheduled: Time.GetUtcNow().AddHours(1))]);
        var stats = await Store.GetStatisticsAsync("q");
        Assert.Equal(new QueueStatistics(2, 1, 0, 0, TimeSpan.FromSeconds(30)), stats);
    }

    [Fact]
    public async Task Operations_UnknownQueue_ThrowNotFound()
    {
        var error = await Assert.ThrowsAsync<QueueException>(() => Store.SendAsync("nope", [Message("a")]));
        Assert.Equal(QueueError.NotFound, error.Error);
    }

    [Fact]
    public async Task Sessions_SendWithoutSessionId_Throws()
    {
        var error = await Assert.ThrowsAsync<QueueException>(() => Store.SendAsync("s", [Message("a")]));
        Assert.Equal(QueueError.SessionRequired, error.Error);
        error = await Assert.ThrowsAsync<QueueException>(() => Store.ReceiveAsync("s", new ReceiveRequest()));
        Assert.Equal(QueueError.SessionRequired, error.Error);
    }

    [Fact]
    public async Task Sessions_FifoPerSession()
    {
        await Store.SendAsync("s", [Message("a1", sessionId: "A"), Message("b1", sessionId: "B"), Message("a2", sessionId: "A"), Message("a3", sessionId: "A")]);
        var session = await Store.AcceptSessionAsync("s", "A");
        Assert.NotNull(session);
        var messages = await Store.ReceiveAsync("s", new ReceiveRequest { MaxMessages = 10, SessionId = "A", SessionLockToken = session.LockToken });
        Assert.Equal(["a1", "a2", "a3"], messages.Select(Text));
        Assert.All(messages, m => Assert.Equal("A", m.SessionId));
    }

    [Fact]
    public async Task Sessions_OneLockHolderAtATime_UntilReleasedOrExpired()
    {
        await Store.SendAsync("s", [Message("a1", sessionId: "A")]);
        var first = await Store.AcceptSessionAsync("s", "A");
        Assert.NotNull(first);
        Assert.Null(await Store.AcceptSessionAsync("s", "A"));

        Time.Advance(TimeSpan.FromSeconds(20));
        Assert.NotNull(await Store.RenewSessionLockAsync("s", "A", first.LockToken));
        Time.Advance(TimeSpan.FromSeconds(20));
        Assert.Null(await Store.AcceptSessionAsync("s", "A"));

        Assert.True(await Store.ReleaseSessionAsync("s", "A", first.LockToken));
        var second = await Store.AcceptSessionAsync("s", "A");
        Assert.NotNull(second);
        var error = await Assert.ThrowsAsync<QueueException>(() =>
            Store.ReceiveAsync("s", new ReceiveRequest { SessionId = "A", SessionLockToken = first.LockToken }));
        Assert.Equal(QueueError.SessionLockLost, error.Error);

        Time.Advance(TimeSpan.FromSeconds(30));
        Assert.NotNull(await Store.AcceptSessionAsync("s", "A"));
    }

    [Fact]
    public async Task Sessions_AcceptNext_PicksSessionWithOldestAvailableMessageNotLocked()
    {
        await Store.SendAsync("s", [Message("b1", sessionId: "B"), Message("a1", sessionId: "A")]);
        var next = await Store.AcceptSessionAsync("s", null);
        Assert.Equal("B", next!.SessionId);
        var other = await Store.AcceptSessionAsync("s", null);
        Assert.Equal("A", other!.SessionId);
        Assert.Null(await Store.AcceptSessionAsync("s", null));
    }

    [Fact]
    public async Task Sessions_State_SetUnderLockAndReadBack()
    {
        await Store.SendAsync("s", [Message("a1", sessionId: "A")]);
        Assert.Null(await Store.GetSessionStateAsync("s", "A"));
        var session = await Store.AcceptSessionAsync("s", "A");
        Assert.True(await Store.SetSessionStateAsync("s", "A", session!.LockToken, Encoding.UTF8.GetBytes("step2")));
        Assert.True(await Store.ReleaseSessionAsync("s", "A", session.LockToken));
        Assert.False(await Store.SetSessionStateAsync("s", "A", session.LockToken, Encoding.UTF8.GetBytes("x")));
        Assert.Equal("step2", Encoding.UTF8.GetString((await Store.GetSessionStateAsync("s", "A"))!));
    }

    [Fact]
    public async Task GetMessage_TracksStateUntilCompleted()
    {
        var sent = await Store.SendAsync("q", [Message("a")]);
        var seq = sent[0].SequenceNumber;
        Assert.Equal(QueueMessageState.Active, (await Store.GetMessageAsync("q", seq))!.State);
        var message = await ReceiveOneAsync();
        await Store.CompleteAsync("q", message!.LockToken!);
        Assert.Null(await Store.GetMessageAsync("q", seq));
    }

    [Fact]
    public async Task DeleteQueue_RemovesQueueAndMessages()
    {
        await Store.SendAsync("q", [Message("a")]);
        Assert.True(await Store.DeleteQueueAsync("q"));
        Assert.Null(Store.FindQueue("q"));
        Assert.False(await Store.DeleteQueueAsync("q"));
    }
}
