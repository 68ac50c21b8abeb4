using System.Text;
using Iot.Routing.Commands;
using Iot.Routing.Queues;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Routing.Tests.Commands;

/// <summary>
/// The <see cref="ICommandStore"/> contract: records beside the command queue, written atomically with the queue
/// messages they belong to; each implementation inherits it with the queue store it belongs to.
/// </summary>
public abstract class CommandStoreContractTests : IAsyncLifetime
{
    private const string Device = "dev-1";

    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));

    private protected IQueueStore Queues { get; private set; } = null!;

    private protected ICommandStore Store { get; private set; } = null!;

    private long Now => Time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Creates an empty queue store on <see cref="Time"/> and the command store that belongs to it.</summary>
    private protected abstract (IQueueStore Queues, ICommandStore Commands) CreateStores();

    public virtual async Task InitializeAsync()
    {
        (Queues, Store) = CreateStores();
        await Queues.CreateOrUpdateQueueAsync(new QueueProperties { Name = CommandService.QueueName, RequiresSession = true });
        await Queues.CreateOrUpdateQueueAsync(new QueueProperties { Name = "replies" });
    }

    public virtual async Task DisposeAsync()
    {
        if (Queues is IAsyncDisposable disposable)
        {
            await disposable.DisposeAsync();
        }
    }

    private protected CommandRecord Record(string commandId, string messageId, string device = Device, string? replyQueue = null) => new()
    {
        CommandId = commandId,
        DeviceId = device,
        Name = "reboot",
        MessageId = messageId,
        Status = CommandStatus.Queued,
        CreatedAt = Now,
        UpdatedAt = Now,
        ExpiresAt = Now + 60_000,
        ReplyQueue = replyQueue,
    };

    private protected static QueueMessage MessageFor(CommandRecord record) => new()
    {
        Body = Encoding.UTF8.GetBytes(record.CommandId),
        MessageId = record.MessageId,
        SessionId = record.DeviceId,
    };

    private protected Task<(CommandRecord Record, bool Duplicate)> CreateAsync(CommandRecord record) =>
        Store.CreateAsync(record, duplicatesSince: Now - 10_000, MessageFor);

    [Fact]
    public async Task Create_New_RecordAndItsQueueMessageBothWritten()
    {
        var (created, duplicate) = await CreateAsync(Record("c1", "m1"));

        Assert.False(duplicate);
        Assert.NotNull(created.SequenceNumber);
        var stored = await Store.GetAsync("c1");
        Assert.Equal((CommandStatus.Queued, created.SequenceNumber), (stored!.Status, stored.SequenceNumber));
        var message = await Queues.GetMessageAsync(CommandService.QueueName, created.SequenceNumber!.Value);
        Assert.Equal("c1", Encoding.UTF8.GetString(message!.Body));
    }

    [Fact]
    public async Task Create_SameMessageIdWithinTheWindow_ReturnsTheFirstAsDuplicate()
    {
        var (first, _) = await CreateAsync(Record("c1", "m1"));
        var (second, duplicate) = await CreateAsync(Record("c2", "m1"));

        Assert.True(duplicate);
        Assert.Equal(("c1", first.SequenceNumber), (second.CommandId, second.SequenceNumber));
        Assert.Null(await Store.GetAsync("c2"));
        Assert.Single(await Queues.PeekAsync(CommandService.QueueName, 0, 10, deadLetterQueue: false));
    }

    [Fact]
    public async Task Create_SameMessageIdOtherDeviceOrBeforeTheWindow_NewCommand()
    {
        await CreateAsync(Record("c1", "m1"));
        Assert.False((await CreateAsync(Record("c2", "m1", device: "dev-2"))).Duplicate);
        Time.Advance(TimeSpan.FromSeconds(11));
        Assert.False((await CreateAsync(Record("c3", "m1"))).Duplicate);
    }

    [Fact]
    public async Task Get_Unknown_Null() => Assert.Null(await Store.GetAsync("nope"));

    [Fact]
    public async Task GetOrCreate_Unknown_RecordsIt_Known_ReturnsTheStoredOne()
    {
        var created = await Store.GetOrCreateAsync(Record("c1", "m1") with { SequenceNumber = 7 });
        var again = await Store.GetOrCreateAsync(Record("c1", "other") with { SequenceNumber = 8 });

        Assert.Equal(("m1", (long?)7), (created.MessageId, created.SequenceNumber));
        Assert.Equal(("m1", (long?)7), (again.MessageId, again.SequenceNumber));
    }

    [Fact]
    public async Task SetDelivered_Pending_Delivered_FinalUnchanged()
    {
        await CreateAsync(Record("c1", "m1"));
        Assert.True(await Store.SetDeliveredAsync("c1", 2, Now));
        Assert.Equal((CommandStatus.Delivered, 2), await StatusAsync("c1"));

        Assert.True(await Store.SetFinalAsync("c1", CommandStatus.Expired, null, null, "TTLExpiredException", "gone", null, Now));
        Assert.False(await Store.SetDeliveredAsync("c1", 3, Now));
        Assert.False(await Store.SetFinalAsync("c1", CommandStatus.DeadLettered, null, null, "x", null, 5, Now));
        var record = await Store.GetAsync("c1");
        Assert.Equal((CommandStatus.Expired, 2, "TTLExpiredException", "gone"), (record!.Status, record.DeliveryCount, record.Reason, record.Description));
    }

    [Fact]
    public async Task Answer_Pending_RecordsTheAnswerAndItsReplyTogether()
    {
        await CreateAsync(Record("c1", "m1", replyQueue: "replies"));
        var reply = Store.PrepareReply("replies", new QueueMessage { Body = "ok"u8.ToArray(), MessageId = "c1:answer" });

        Assert.True(await Store.AnswerAsync("c1", Device, CommandStatus.Completed, "ok"u8.ToArray(), "text/plain", Now, reply));

        var record = await Store.GetAsync("c1");
        Assert.Equal((CommandStatus.Completed, "ok", "text/plain"), (record!.Status, Encoding.UTF8.GetString(record.Answer!), record.AnswerContentType));
        var replies = await Queues.PeekAsync("replies", 0, 10, deadLetterQueue: false);
        Assert.Equal("c1:answer", Assert.Single(replies).MessageId);
    }

    [Fact]
    public async Task Answer_Twice_SecondWritesNothing()
    {
        await CreateAsync(Record("c1", "m1"));
        Assert.True(await Store.AnswerAsync("c1", Device, CommandStatus.Completed, "a"u8.ToArray(), null, Now, null));
        var reply = Store.PrepareReply("replies", new QueueMessage { Body = "b"u8.ToArray() });

        Assert.False(await Store.AnswerAsync("c1", Device, CommandStatus.Failed, "b"u8.ToArray(), null, Now, reply));

        var record = await Store.GetAsync("c1");
        Assert.Equal((CommandStatus.Completed, "a"), (record!.Status, Encoding.UTF8.GetString(record.Answer!)));
        Assert.Empty(await Queues.PeekAsync("replies", 0, 10, deadLetterQueue: false));
    }

    [Fact]
    public async Task Answer_FromAnotherDeviceOrUnknownCommand_False()
    {
        await CreateAsync(Record("c1", "m1"));
        Assert.False(await Store.AnswerAsync("c1", "dev-2", CommandStatus.Completed, "a"u8.ToArray(), null, Now, null));
        Assert.False(await Store.AnswerAsync("nope", Device, CommandStatus.Completed, "a"u8.ToArray(), null, Now, null));
        Assert.Equal(CommandStatus.Queued, (await Store.GetAsync("c1"))!.Status);
    }

    [Fact]
    public async Task Answer_TakesTheDeliveryCountOfTheQueueMessage()
    {
        await CreateAsync(Record("c1", "m1"));
        var session = await Queues.AcceptSessionAsync(CommandService.QueueName, Device);
        Assert.Single(await Queues.ReceiveAsync(CommandService.QueueName, new ReceiveRequest { SessionId = Device, SessionLockToken = session!.LockToken }));

        Assert.True(await Store.AnswerAsync("c1", Device, CommandStatus.Completed, "a"u8.ToArray(), null, Now, null));
        Assert.Equal((CommandStatus.Completed, 1), await StatusAsync("c1"));
    }

    [Fact]
    public void PrepareReply_QueueThatRequiresSessions_WithoutOne_Throws() =>
        Assert.Equal(QueueError.SessionRequired,
            Assert.Throws<QueueException>(() => Store.PrepareReply(CommandService.QueueName, new QueueMessage { Body = "a"u8.ToArray() })).Error);

    [Fact]
    public async Task Repair_PendingRecordsWithoutMessage_LinkedWhenTheMessageExists_ElseDeadLettered()
    {
        await Store.GetOrCreateAsync(Record("linked", "m1"));
        await Store.GetOrCreateAsync(Record("lost", "m2"));
        var sent = await Queues.SendAsync(CommandService.QueueName, [MessageFor(Record("linked", "m1"))]);

        var (linked, incomplete) = await Store.RepairAsync(Now);

        Assert.Equal(["linked"], linked.Select(r => r.CommandId));
        Assert.Equal(["lost"], incomplete.Select(r => r.CommandId));
        Assert.Equal(sent[0].SequenceNumber, (await Store.GetAsync("linked"))!.SequenceNumber);
        var lost = await Store.GetAsync("lost");
        Assert.Equal((CommandStatus.DeadLettered, ICommandStore.IncompleteReason), (lost!.Status, lost.Reason));
        Assert.Empty((await Store.RepairAsync(Now)).Linked);
    }

    [Fact]
    public async Task Create_DuplicateOfARecordWithoutMessage_WritesItsMessageNow()
    {
        await Store.GetOrCreateAsync(Record("c1", "m1"));

        var (completed, duplicate) = await CreateAsync(Record("c2", "m1"));

        Assert.True(duplicate);
        Assert.Equal("c1", completed.CommandId);
        Assert.NotNull(completed.SequenceNumber);
        Assert.Equal(completed.SequenceNumber, (await Store.GetAsync("c1"))!.SequenceNumber);
        Assert.NotNull(await Queues.GetMessageAsync(CommandService.QueueName, completed.SequenceNumber!.Value));
    }

    private async Task<(CommandStatus, int)> StatusAsync(string commandId)
    {
        var record = await Store.GetAsync(commandId);
        return (record!.Status, record.DeliveryCount);
    }
}
