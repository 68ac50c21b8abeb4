using System.CommandLine;
using System.Net.Http.Headers;
using System.Text.Json;
using Iot.Cli.Http;
using Iot.Cli.Output;

namespace Iot.Cli.Commands;

/// <summary>
/// <c>iot queues</c>: durable queues with Service Bus semantics (<c>/api/queues</c>): create, send, receive, peek,
/// settle, read and resubmit dead letters.
/// </summary>
internal sealed class QueuesGroup : CommandGroup
{
    /// <inheritdoc/>
    public override Command Create(CliActions cli)
    {
        var queue = CliOptions.Text("queue", "The queue name.");
        var max = CliOptions.Number("--max", "How many messages at most", 1, 1000);
        var from = new Option<long?>("--from") { Description = "Peek from this sequence number (default: the first).", HelpName = "sequence" };
        var tokens = new Argument<string[]>("lock-token") { Description = "Lock tokens that receive printed.", Arity = ArgumentArity.OneOrMore };

        return Command("queues", "Durable queues: create, send, receive, peek, settle, dead letters, resubmit.",
            cli.Run(Command("list", "List the queues with their message counts."), ListAsync),
            cli.Run(Command("get", "Show a queue's settings and statistics.", queue), GetAsync(queue)),
            CreateCommand(cli, queue),
            cli.Run(Command("delete", "Delete a queue with its messages and sessions.", queue), async (c, ct) =>
            {
                await c.Api.SendJsonAsync(HttpMethod.Delete, Path(c.Get(queue)), null, ct).ConfigureAwait(false);
                c.Note($"Deleted queue '{c.Get(queue)}'.");
                return ExitCodes.Ok;
            }),
            SendCommand(cli, queue),
            ReceiveCommand(cli, queue, max),
            cli.Run(Command("peek", "Show messages without locking them.", queue, from, max), (c, ct) => PeekAsync(c, c.Get(queue), "messages", c.Get(from), c.Get(max), ct)),
            cli.Run(Command("deadletters", "Show the dead-letter queue without locking it, with each message's reason.", queue, from, max),
                (c, ct) => PeekAsync(c, c.Get(queue), "deadletter", c.Get(from), c.Get(max), ct)),
            cli.Run(Command("complete", "Complete received messages by lock token (they are deleted).", queue, tokens),
                (c, ct) => SettleAsync(c, c.Get(queue), "complete", c.Get(tokens), ct)),
            cli.Run(Command("abandon", "Abandon received messages by lock token (available again; dead-lettered after maxDeliveryCount).", queue, tokens),
                (c, ct) => SettleAsync(c, c.Get(queue), "abandon", c.Get(tokens), ct)),
            ResubmitCommand(cli, queue));
    }

    internal static string Path(string queue) => "/api/queues/" + Query.Segment(queue);

    private static async Task<int> ListAsync(CliContext c, CancellationToken ct)
    {
        var response = await c.Api.GetAsync("/api/queues", ct).ConfigureAwait(false);
        if (c.Json)
        {
            c.WriteJson(response);
            return ExitCodes.Ok;
        }

        var table = new Table("name", "active", "scheduled", "dead-lettered", "sessions", "lock", "max deliveries", "ttl");
        foreach (var q in CliJson.Items(response.Json))
        {
            // The list has the settings; the counts are each queue's statistics.
            var name = CliJson.Text(q, "name")!;
            var statistics = await StatisticsAsync(c, name, ct).ConfigureAwait(false);
            table.Add(name, CliJson.Show(statistics, "active"), CliJson.Show(statistics, "scheduled"), CliJson.Show(statistics, "deadLettered"),
                CliJson.Show(q, "requiresSession"), CliJson.Show(q, "lockDuration"), CliJson.Show(q, "maxDeliveryCount"), CliJson.Show(q, "defaultTtl"));
        }

        table.Write(c.Out);
        return ExitCodes.Ok;
    }

    // A queue deleted since the list was read shows no counts rather than failing the whole list.
    private static async Task<JsonElement> StatisticsAsync(CliContext c, string name, CancellationToken ct)
    {
        try
        {
            return CliJson.Get((await c.Api.GetAsync(Path(name), ct).ConfigureAwait(false)).Json, "statistics");
        }
        catch (ApiException ex) when (ex.Status == 404)
        {
            return default;
        }
    }

    private static Func<CliContext, CancellationToken, Task<int>> GetAsync(Argument<string> queue) => async (c, ct) =>
        c.PrintProperties(await c.Api.GetAsync(Path(c.Get(queue)), ct).ConfigureAwait(false), json =>
        {
            var settings = CliJson.Get(json, "queue");
            var statistics = CliJson.Get(json, "statistics");
            return Settings(settings).Concat(
            [
                ("Active", CliJson.Show(statistics, "active")),
                ("Scheduled", CliJson.Show(statistics, "scheduled")),
                ("Deferred", CliJson.Show(statistics, "deferred")),
                ("Dead-lettered", CliJson.Show(statistics, "deadLettered")),
                ("Oldest active age", CliJson.Show(statistics, "oldestActiveAge")),
            ]);
        });

    private static Command CreateCommand(CliActions cli, Argument<string> queue)
    {
        var lockDuration = CliOptions.OptionalDuration("--lock-duration", "How long a received message stays locked (default 1m).");
        var maxDeliveries = CliOptions.Number("--max-delivery-count", "Deliveries before a message is dead-lettered (default 10)", 1, int.MaxValue);
        var defaultTtl = CliOptions.OptionalDuration("--default-ttl", "Time to live of messages sent without one (default: none).");
        var duplicateWindow = CliOptions.OptionalDuration("--duplicate-detection-window", "How long a messageId is remembered (default 10m).");
        var requiresSession = new Option<bool>("--requires-session") { Description = "Messages carry a session id and are received per session (cannot change later)." };
        var deadLetterOnExpiration = new Option<bool>("--dead-letter-on-expiration") { Description = "Expired messages go to the dead-letter queue instead of being dropped." };
        return cli.Run(Command("create", "Create a queue, or change its settings (PUT: options not given return to their defaults).",
            queue, lockDuration, maxDeliveries, defaultTtl, duplicateWindow, requiresSession, deadLetterOnExpiration), async (c, ct) =>
        {
            var body = new
            {
                LockDuration = c.Get(lockDuration) is { } l ? Durations.ToApi(l) : null,
                MaxDeliveryCount = c.Get(maxDeliveries),
                DefaultTtl = c.Get(defaultTtl) is { } t ? Durations.ToApi(t) : null,
                DuplicateDetectionWindow = c.Get(duplicateWindow) is { } d ? Durations.ToApi(d) : null,
                RequiresSession = c.Get(requiresSession),
                DeadLetteringOnMessageExpiration = c.Get(deadLetterOnExpiration),
            };
            var response = await c.Api.SendJsonAsync(HttpMethod.Put, Path(c.Get(queue)), body, ct).ConfigureAwait(false);
            c.PrintProperties(response, Settings);
            c.Note(response.Status == 201 ? $"Created queue '{c.Get(queue)}'." : $"Updated queue '{c.Get(queue)}'.");
            return ExitCodes.Ok;
        });
    }

    private static Command SendCommand(CliActions cli, Argument<string> queue)
    {
        var body = new Option<string?>("--body", "-d") { Description = "The message body: the text itself, @file for a file's bytes, - for stdin.", HelpName = "body", Required = true };
        var contentType = new Option<string>("--content-type") { Description = "The body's Content-Type.", DefaultValueFactory = _ => "application/json" };
        var messageId = new Option<string?>("--message-id") { Description = "Duplicate detection: a second message with this id within the window is not stored." };
        var sessionId = new Option<string?>("--session-id") { Description = "The session (session queues)." };
        var ttl = CliOptions.OptionalDuration("--ttl", "Time to live (default: the queue's).");
        var scheduled = new Option<DateTimeOffset?>("--scheduled-enqueue-time") { Description = "Deliver not before this time (ISO 8601)." };
        var priority = new Option<int?>("--priority") { Description = "Higher first (default 0)." };
        var correlationId = new Option<string?>("--correlation-id") { Description = "The correlation id." };
        var replyTo = new Option<string?>("--reply-to") { Description = "Where an answer should go." };
        var replyToSessionId = new Option<string?>("--reply-to-session-id") { Description = "The session of --reply-to an answer should go to." };
        var subject = new Option<string?>("--subject") { Description = "The subject (label)." };
        return cli.Run(Command("send", "Send a message.", queue, body, contentType, messageId, sessionId, ttl, scheduled, priority, correlationId, replyTo, replyToSessionId, subject),
            async (c, ct) =>
            {
                var content = new ByteArrayContent(await BodyInput.ReadAsync(c.Get(body), ct).ConfigureAwait(false) ?? []);
                content.Headers.ContentType = MediaTypeHeaderValue.Parse(c.Get(contentType));
                var path = Query.With(Path(c.Get(queue)) + "/messages", ("messageId", c.Get(messageId)), ("sessionId", c.Get(sessionId)),
                    ("ttl", c.Get(ttl) is { } t ? Durations.ToSeconds(t) : null),
                    ("scheduledEnqueueTime", c.Get(scheduled)?.ToString("o", System.Globalization.CultureInfo.InvariantCulture)),
                    ("priority", c.Get(priority)?.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                    ("correlationId", c.Get(correlationId)), ("replyTo", c.Get(replyTo)),
                    ("replyToSessionId", c.Get(replyToSessionId)), ("subject", c.Get(subject)));
                var response = await c.Api.SendAsync(HttpMethod.Post, path, content, ct).ConfigureAwait(false);
                return c.PrintProperties(response, json => [("Sequence number", CliJson.Show(json, "sequenceNumber")), ("Duplicate", CliJson.Show(json, "duplicate"))]);
            });
    }

    private static Command ReceiveCommand(CliActions cli, Argument<string> queue, Option<int?> max)
    {
        var wait = CliOptions.Duration("--wait", "Wait this long for a first message (0-120 s; default 0: answer at once).", TimeSpan.Zero);
        var mode = new Option<string>("--mode")
        {
            Description = "peekLock (locked until completed, abandoned or the lock expires) or receiveAndDelete.",
            DefaultValueFactory = _ => "peekLock",
        };
        mode.AcceptOnlyFromAmong("peekLock", "receiveAndDelete");
        var complete = new Option<bool>("--complete") { Description = "Complete the received messages after printing them (peekLock)." };
        var sessionId = new Option<string?>("--session-id") { Description = "Session queues: the session (with --session-lock-token)." };
        var sessionLock = new Option<string?>("--session-lock-token") { Description = "Session queues: the lock token of the accepted session." };
        var deadLetter = new Option<bool>("--dead-letter") { Description = "Receive from the dead-letter queue." };
        return cli.Run(Command("receive", "Receive messages (peek-lock by default: print their lock tokens, then complete or abandon them).",
            queue, max, wait, mode, complete, sessionId, sessionLock, deadLetter), async (c, ct) =>
        {
            var path = Query.With(Path(c.Get(queue)) + (c.Get(deadLetter) ? "/deadletter:receive" : "/messages:receive"),
                ("maxMessages", c.Get(max)?.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("mode", c.Get(mode)),
                ("sessionId", c.Get(sessionId)), ("sessionLockToken", c.Get(sessionLock)), ("maxWaitTime", Durations.ToSeconds(c.Get(wait))));
            var response = await c.Api.SendJsonAsync(HttpMethod.Post, path, null, ct, c.Get(wait)).ConfigureAwait(false);
            c.Print(response, json => WriteMessages(c, json, withLock: true));
            var locked = CliJson.Items(CliJson.Get(response.Json, "value")).Select(m => CliJson.Text(m, "lockToken")).OfType<string>().ToList();
            if (c.Get(complete) && locked.Count > 0)
            {
                var settled = await c.Api.SendJsonAsync(HttpMethod.Post, Path(c.Get(queue)) + "/messages:complete", new { LockTokens = locked }, ct).ConfigureAwait(false);
                return ReportSettle(c, settled, "completed");
            }

            return ExitCodes.Ok;
        });
    }

    private static async Task<int> PeekAsync(CliContext c, string queue, string which, long? from, int? max, CancellationToken ct)
    {
        var path = Query.With($"{Path(queue)}/{which}", ("fromSequenceNumber", from?.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("maxMessages", max?.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        return c.Print(await c.Api.GetAsync(path, ct).ConfigureAwait(false), json => WriteMessages(c, json, withLock: false));
    }

    private static async Task<int> SettleAsync(CliContext c, string queue, string operation, string[] lockTokens, CancellationToken ct)
    {
        var response = await c.Api.SendJsonAsync(HttpMethod.Post, $"{Path(queue)}/messages:{operation}", new { LockTokens = lockTokens }, ct).ConfigureAwait(false);
        if (c.Json)
        {
            c.WriteJson(response);
        }

        return ReportSettle(c, response, operation == "complete" ? "completed" : "abandoned");
    }

    /// <summary>Says how many lock tokens succeeded and why the others failed; exit code 1 when any failed.</summary>
    private static int ReportSettle(CliContext c, ApiResponse response, string verb)
    {
        var succeeded = CliJson.Items(CliJson.Get(response.Json, "succeededLockTokens")).Count();
        var failed = CliJson.Items(CliJson.Get(response.Json, "failedLockTokens")).ToList();
        c.Note($"{succeeded} {verb}, {failed.Count} failed.");
        foreach (var failure in failed)
        {
            c.Error.WriteLine($"error: lock token {CliJson.Text(failure, "lockToken")}: {CliJson.Text(failure, "error")}");
        }

        return failed.Count == 0 ? ExitCodes.Ok : ExitCodes.ApiError;
    }

    private static void WriteMessages(CliContext c, JsonElement json, bool withLock)
    {
        var messages = CliJson.Items(CliJson.Get(json, "value")).ToList();
        if (messages.Count == 0)
        {
            c.Out.WriteLine("No messages.");
            return;
        }

        var table = withLock
            ? new Table("seq", "message id", "session", "deliveries", "lock token", "subject", "body")
            : new Table("seq", "message id", "session", "state", "deliveries", "enqueued", "reason", "body");
        foreach (var m in messages)
        {
            if (withLock)
            {
                table.Add(CliJson.Show(m, "sequenceNumber"), CliJson.Show(m, "messageId"), CliJson.Show(m, "sessionId"), CliJson.Show(m, "deliveryCount"),
                    CliJson.Show(m, "lockToken"), CliJson.Show(m, "subject"), CliJson.Show(m, "body"));
            }
            else
            {
                table.Add(CliJson.Show(m, "sequenceNumber"), CliJson.Show(m, "messageId"), CliJson.Show(m, "sessionId"), CliJson.Show(m, "state"),
                    CliJson.Show(m, "deliveryCount"), CliJson.Time(m, "enqueuedTime"), CliJson.Show(m, "deadLetterReason"), CliJson.Show(m, "body"));
            }
        }

        table.Write(c.Out);
    }

    private static IEnumerable<(string, string?)> Settings(JsonElement q) =>
    [
        ("Name", CliJson.Show(q, "name")),
        ("Lock duration", CliJson.Show(q, "lockDuration")),
        ("Max delivery count", CliJson.Show(q, "maxDeliveryCount")),
        ("Default TTL", CliJson.Show(q, "defaultTtl")),
        ("Duplicate detection", CliJson.Show(q, "duplicateDetectionWindow")),
        ("Requires session", CliJson.Show(q, "requiresSession")),
        ("Dead-letter on expiry", CliJson.Show(q, "deadLetteringOnMessageExpiration")),
    ];

    private static Command ResubmitCommand(CliActions cli, Argument<string> queue) =>
        QueueResubmit.Create(cli, queue);
}
