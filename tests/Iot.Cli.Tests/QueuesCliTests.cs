using Iot.TestUtilities;

namespace Iot.Cli.Tests;

/// <summary><c>iot queues</c>: create, send, peek, receive and settle, dead letters and resubmit, against a real broker.</summary>
[Collection(CliBrokerCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class QueuesCliTests(CliBrokerFixture broker)
{
    [Fact]
    public async Task CreateSendPeekReceiveComplete_TablesAndJson()
    {
        var queue = TestIds.ClientId("q");
        var created = (await broker.IotAsync("queues", "create", queue, "--lock-duration", "30s", "--max-delivery-count", "3")).ExpectExit(0);
        Assert.Equal("00:00:30", created.Property("Lock duration"));
        Assert.Contains($"Created queue '{queue}'.", created.StandardOutput, StringComparison.Ordinal);

        var sent = (await broker.IotAsync("queues", "send", queue, "--body", """{"order":1}""", "--message-id", "m-1", "--json")).ExpectExit(0).Json();
        Assert.False(sent.GetProperty("duplicate").GetBoolean());
        Assert.Equal("true", (await broker.IotAsync("queues", "send", queue, "--body", """{"order":1}""", "--message-id", "m-1")).ExpectExit(0).Property("Duplicate"));
        (await broker.IotAsync("queues", "send", queue, "--body", "plain words", "--content-type", "text/plain", "--subject", "note")).ExpectExit(0);

        var list = (await broker.IotAsync("queues", "list")).ExpectExit(0).TableRows();
        Assert.Equal(["NAME", "ACTIVE", "SCHEDULED", "DEAD-LETTERED", "SESSIONS", "LOCK", "MAX DELIVERIES", "TTL"], list[0]);
        Assert.Equal([queue, "2", "0", "0", "false", "00:00:30", "3", "-"], list.Single(r => r[0] == queue));

        var peeked = (await broker.IotAsync("queues", "peek", queue)).ExpectExit(0).TableRows();
        Assert.Equal(["SEQ", "MESSAGE ID", "SESSION", "STATE", "DELIVERIES", "ENQUEUED", "REASON", "BODY"], peeked[0]);
        Assert.Equal("""{"order":1}""", peeked[1][^1]);
        Assert.Equal("plain words", peeked[2][^1]);

        var received = (await broker.IotAsync("queues", "receive", queue, "--max", "10", "--complete")).ExpectExit(0);
        Assert.Equal(3, received.TableRows().Count(r => r.Length > 1));
        Assert.Contains("2 completed, 0 failed.", received.StandardOutput, StringComparison.Ordinal);
        Assert.Equal("0", (await broker.IotAsync("queues", "get", queue)).ExpectExit(0).Property("Active"));

        var empty = (await broker.IotAsync("queues", "receive", queue, "--json")).ExpectExit(0).Json();
        Assert.Equal(0, empty.GetProperty("value").GetArrayLength());
        (await broker.IotAsync("queues", "delete", queue)).ExpectExit(0);
        (await broker.IotAsync("queues", "get", queue)).ExpectExit(1);
    }

    [Fact]
    public async Task AbandonedPastMaxDeliveries_DeadLettered_ResubmitSendsThemBack()
    {
        var queue = TestIds.ClientId("dlq");
        (await broker.IotAsync("queues", "create", queue, "--max-delivery-count", "1")).ExpectExit(0);
        (await broker.IotAsync("queues", "send", queue, "--body", """{"n":1}""", "--correlation-id", "c-1")).ExpectExit(0);
        (await broker.IotAsync("queues", "send", queue, "--body", "two", "--content-type", "text/plain")).ExpectExit(0);

        // Receive in peek-lock, then abandon by lock token: one delivery of at most one, so both are dead-lettered.
        var received = (await broker.IotAsync("queues", "receive", queue, "--max", "2", "--json")).ExpectExit(0).Json();
        var tokens = received.GetProperty("value").EnumerateArray().Select(m => m.GetProperty("lockToken").GetString()!).ToArray();
        Assert.Equal(2, tokens.Length);
        var abandoned = (await broker.IotAsync(["queues", "abandon", queue, .. tokens])).ExpectExit(0);
        Assert.Contains("2 abandoned, 0 failed.", abandoned.StandardOutput, StringComparison.Ordinal);

        var deadLetters = (await broker.IotAsync("queues", "deadletters", queue)).ExpectExit(0).TableRows();
        Assert.Equal(2, deadLetters.Count - 1);
        Assert.All(deadLetters.Skip(1), r => Assert.Equal("MaxDeliveryCountExceeded", r[6]));
        Assert.Equal("2", (await broker.IotAsync("queues", "get", queue)).ExpectExit(0).Property("Dead-lettered"));

        var resubmitted = (await broker.IotAsync("queues", "resubmit", queue, "--json")).ExpectExit(0).Json();
        Assert.Equal(2, resubmitted.GetProperty("resubmitted").GetInt32());

        // Back in the queue with their bodies, content types and correlation id; the dead-letter queue is empty.
        var peeked = (await broker.IotAsync("queues", "peek", queue, "--json")).ExpectExit(0).Json().GetProperty("value").EnumerateArray().ToList();
        Assert.Equal(2, peeked.Count);
        Assert.Equal(1, peeked[0].GetProperty("body").GetProperty("n").GetInt32());
        Assert.Equal("c-1", peeked[0].GetProperty("correlationId").GetString());
        Assert.Equal("two", peeked[1].GetProperty("body").GetString());
        Assert.Equal("text/plain", peeked[1].GetProperty("contentType").GetString());
        Assert.Equal("No messages.", (await broker.IotAsync("queues", "deadletters", queue)).ExpectExit(0).StandardOutput.Trim());
    }

    [Fact]
    public async Task ResubmitKeepingMessageId_StillInTheDuplicateWindow_DeadLetterStays()
    {
        var queue = TestIds.ClientId("keep");
        (await broker.IotAsync("queues", "create", queue, "--max-delivery-count", "1", "--duplicate-detection-window", "1h")).ExpectExit(0);
        (await broker.IotAsync("queues", "send", queue, "--body", "{}", "--message-id", "keep-1")).ExpectExit(0);
        var token = (await broker.IotAsync("queues", "receive", queue, "--json")).ExpectExit(0).Json().GetProperty("value")[0].GetProperty("lockToken").GetString()!;
        (await broker.IotAsync("queues", "abandon", queue, token)).ExpectExit(0);

        var result = (await broker.IotAsync("queues", "resubmit", queue, "--keep-message-id")).ExpectExit(0);
        Assert.Contains("Resubmitted 0 dead letter(s)", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("1 kept", result.StandardOutput, StringComparison.Ordinal);
        var deadLetters = (await broker.IotAsync("queues", "deadletters", queue, "--json")).ExpectExit(0).Json().GetProperty("value");
        Assert.Equal("keep-1", deadLetters[0].GetProperty("messageId").GetString());
        Assert.Equal("0", (await broker.IotAsync("queues", "get", queue)).ExpectExit(0).Property("Active"));
    }

    [Fact]
    public async Task Receive_BadSettleToken_Exits1NamingTheToken()
    {
        var queue = TestIds.ClientId("tok");
        (await broker.IotAsync("queues", "create", queue)).ExpectExit(0);
        var result = (await broker.IotAsync("queues", "complete", queue, "no-such-token")).ExpectExit(1);
        Assert.Contains("lock token no-such-token", result.StandardError, StringComparison.Ordinal);
    }
}
