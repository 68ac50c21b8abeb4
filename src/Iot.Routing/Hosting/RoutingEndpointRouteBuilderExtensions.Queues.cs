using System.ComponentModel;
using Iot.Messaging.Http;
using Iot.Messaging;
using Iot.Routing.ClaimCheck;
using Iot.Routing.Queues;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Iot.Routing.Hosting;

public static partial class RoutingEndpointRouteBuilderExtensions
{
    private const int MaxQueueMessageBytes = 256 * 1024;

    private static void MapQueues(IEndpointRouteBuilder routing)
    {
        var api = routing.MapGroup(string.Empty).WithTags("Queues");
        api.MapGet("/queues", (HttpContext context) =>
            Json(Store(context).Queues.Select(QueueView).ToList()))
            .WithName("ListQueues").WithSummary("Lists the queues and their settings.")
            .Produces<List<QueueResponse>>();

        api.MapPut("/queues/{name}", async (string name, HttpContext context) =>
        {
            if (!SqliteQueueStore.IsValidQueueName(name))
            {
                return Problem(StatusCodes.Status400BadRequest, "Invalid queue", ResourceNames.Validate(name, "queue name")!);
            }

            var (body, error) = await ReadBodyAsync<QueueRequest>(context.Request).ConfigureAwait(false);
            if (body is null)
            {
                return error!;
            }

            var defaults = new QueueProperties { Name = name };
            var properties = new QueueProperties
            {
                Name = name,
                LockDuration = body.LockDuration ?? defaults.LockDuration,
                MaxDeliveryCount = body.MaxDeliveryCount ?? defaults.MaxDeliveryCount,
                DefaultMessageTimeToLive = body.DefaultTtl ?? defaults.DefaultMessageTimeToLive,
                DuplicateDetectionWindow = body.DuplicateDetectionWindow ?? defaults.DuplicateDetectionWindow,
                RequiresSession = body.RequiresSession ?? false,
                DeadLetteringOnMessageExpiration = body.DeadLetteringOnMessageExpiration ?? false,
            };
            return await QueueCall(async () =>
            {
                var created = await Store(context).CreateOrUpdateQueueAsync(properties, context.RequestAborted).ConfigureAwait(false);
                return Json(QueueView(properties), created ? StatusCodes.Status201Created : StatusCodes.Status200OK);
            }).ConfigureAwait(false);
        }).WithName("PutQueue")
            .WithSummary("Creates (201) or updates (200) a queue; settings left out take their defaults (lockDuration 00:01:00, maxDeliveryCount 10, "
                + "no defaultTtl, duplicateDetectionWindow 00:10:00).")
            .WithMetadata(new RequestBodyDescription(typeof(QueueRequest), false, ["application/json"]))
            .Produces<QueueResponse>(StatusCodes.Status201Created)
            .Produces<QueueResponse>(StatusCodes.Status200OK)
            .DescribeQueueProblems(StatusCodes.Status413PayloadTooLarge);

        api.MapGet("/queues/{name}", (string name, HttpContext context) => QueueCall(async () =>
        {
            var store = Store(context);
            var statistics = await store.GetStatisticsAsync(name, context.RequestAborted).ConfigureAwait(false);
            return Json(new QueueDetailsResponse(QueueView(store.FindQueue(name)!), statistics));
        }))
            .WithName("GetQueue").WithSummary("Gets a queue's settings and its counts of active, scheduled, deferred and dead-lettered messages.")
            .Produces<QueueDetailsResponse>()
            .DescribeQueueProblems();

        api.MapDelete("/queues/{name}", async (string name, HttpContext context) =>
            name.StartsWith('$') ? Problem(StatusCodes.Status409Conflict, "Platform queue", $"The queue '{name}' belongs to the platform.")
            : await Store(context).DeleteQueueAsync(name, context.RequestAborted).ConfigureAwait(false) ? Results.NoContent() : NotFound("Queue", name))
            .WithName("DeleteQueue").WithSummary("Deletes a queue and its messages (queues starting with '$' belong to the platform: 409).")
            .Produces(StatusCodes.Status204NoContent)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);

        api.MapPost("/queues/{name}/messages", (string name,
            [Description("Duplicate detection: a message with a messageId seen within the queue's duplicateDetectionWindow is not stored again (200, duplicate).")] string? messageId,
            [Description("The session the message belongs to (required by a session queue).")] string? sessionId,
            [Description("Seconds the message lives (positive); the queue's defaultTtl when left out.")] double? ttl,
            [Description("When the message becomes visible to receivers (ISO 8601); at once when left out.")] DateTimeOffset? scheduledEnqueueTime,
            [Description("Higher is received first (0 by default).")] int? priority,
            [Description("Passed on to the receiver.")] string? correlationId,
            [Description("Passed on to the receiver: where to answer.")] string? replyTo,
            [Description("Passed on to the receiver: the session of replyTo to answer in.")] string? replyToSessionId,
            [Description("Passed on to the receiver: what the message is about.")] string? subject,
            HttpContext context) => QueueCall(async () =>
        {
            if (ttl is <= 0)
            {
                return Problem(StatusCodes.Status400BadRequest, "Invalid message", "ttl must be a positive number of seconds.");
            }

            var claims = context.RequestServices.GetService<ClaimCheckService>() is { AppliesToQueueSends: true } c ? c : null;
            var (payload, reference, tooLarge) = claims is null
                ? await ReadQueueBodyAsync(context.Request).ConfigureAwait(false)
                : await ClaimCheckBodies.ReadAsync(context.Request, claims).ConfigureAwait(false);
            if (tooLarge)
            {
                return Problem(StatusCodes.Status413PayloadTooLarge, "Message too large", claims is null
                    ? $"A queue message may have at most {MaxQueueMessageBytes} bytes."
                    : $"A queue message may have at most {claims.Options.MaxPayloadBytes} bytes (Iot:ClaimCheck:MaxPayloadBytes); above {claims.Options.ThresholdBytes} it is claim-checked.");
            }

            var message = new QueueMessage
                {
                    Body = reference?.ToJson() ?? payload!,
                    MessageId = messageId,
                    SessionId = sessionId,
                    TimeToLive = ttl is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
                    ScheduledEnqueueTime = scheduledEnqueueTime,
                    Priority = priority ?? 0,
                    CorrelationId = correlationId,
                    ReplyTo = replyTo,
                    ReplyToSessionId = replyToSessionId,
                    Subject = subject,
                    ContentType = reference is null ? context.Request.ContentType : ClaimCheckReference.ContentType,
                    ApplicationProperties = reference is null ? null : new Dictionary<string, string> { [ClaimCheckReference.UserProperty] = reference.Id },
                };
            var results = await SendClaimCheckedAsync(Store(context), name, message, reference, claims, context.RequestAborted).ConfigureAwait(false);
            return Json(new QueueSendResponse(results[0].SequenceNumber, results[0].Duplicate), results[0].Duplicate ? StatusCodes.Status200OK : StatusCodes.Status201Created);
        }))
            .WithName("SendQueueMessage")
            .WithSummary("Sends a message (the body, any content type, at most 256 KiB): 201, or 200 when its messageId is a duplicate within the window.")
            .WithMetadata(new RequestBodyDescription(typeof(Stream), true, ["application/octet-stream", "application/json", "text/plain"]))
            .Produces<QueueSendResponse>(StatusCodes.Status201Created)
            .Produces<QueueSendResponse>(StatusCodes.Status200OK)
            .DescribeQueueProblems(StatusCodes.Status413PayloadTooLarge);

        api.MapDelete("/queues/{name}/messages/{sequenceNumber:long}", (string name, long sequenceNumber, HttpContext context) => QueueCall(async () =>
            await Store(context).CancelScheduledMessageAsync(name, sequenceNumber, context.RequestAborted).ConfigureAwait(false)
                ? Results.NoContent()
                : Problem(StatusCodes.Status404NotFound, "Not scheduled", $"There is no scheduled message {sequenceNumber} in '{name}' (only scheduled messages can be cancelled).")))
            .WithName("CancelScheduledQueueMessage").WithSummary("Cancels a scheduled message before it is enqueued.")
            .Produces(StatusCodes.Status204NoContent)
            .DescribeQueueProblems();

        api.MapGet("/queues/{name}/messages", (string name,
            [Description("The first sequence number to peek (0 by default: the oldest).")] long? fromSequenceNumber,
            [Description("The most messages to peek (10 by default).")] int? maxMessages,
            HttpContext context) => QueueCall(async () =>
            Json(MessageList(await Store(context).PeekAsync(name, fromSequenceNumber ?? 0, maxMessages ?? 10, false, context.RequestAborted).ConfigureAwait(false)))))
            .WithName("PeekQueueMessages").WithSummary("Peeks messages from fromSequenceNumber (10 by default) without locking them.")
            .Produces<ValueList<QueueMessageResponse>>()
            .DescribeQueueProblems();

        api.MapGet("/queues/{name}/deadletter", (string name,
            [Description("The first sequence number to peek (0 by default: the oldest).")] long? fromSequenceNumber,
            [Description("The most messages to peek (10 by default).")] int? maxMessages,
            HttpContext context) => QueueCall(async () =>
            Json(MessageList(await Store(context).PeekAsync(name, fromSequenceNumber ?? 0, maxMessages ?? 10, true, context.RequestAborted).ConfigureAwait(false)))))
            .WithName("PeekQueueDeadLetters").WithSummary("Peeks the dead-letter queue's messages without locking them.")
            .Produces<ValueList<QueueMessageResponse>>()
            .DescribeQueueProblems();

        MapReceive(api, "/queues/{name}/messages:receive", deadLetter: false);
        MapReceive(api, "/queues/{name}/deadletter:receive", deadLetter: true);

        api.MapPost("/queues/{name}/messages:receiveDeferred", (string name, HttpContext context) => QueueCall(async () =>
        {
            var (body, error) = await ReadBodyAsync<SequenceNumbersRequest>(context.Request).ConfigureAwait(false);
            return body?.SequenceNumbers is not { Count: > 0 and <= 1000 } numbers
                ? error ?? Problem(StatusCodes.Status400BadRequest, "Invalid request", "sequenceNumbers must hold between 1 and 1000 numbers.")
                : Json(MessageList(await Store(context).ReceiveDeferredAsync(name, numbers, context.RequestAborted).ConfigureAwait(false)));
        }))
            .WithName("ReceiveDeferredQueueMessages").WithSummary("Receives deferred messages by sequence number (1-1000), locked.")
            .WithMetadata(new RequestBodyDescription(typeof(SequenceNumbersRequest), false, ["application/json"]))
            .Produces<ValueList<QueueMessageResponse>>()
            .DescribeQueueProblems(StatusCodes.Status413PayloadTooLarge);

        MapQueueSettle(api, "complete", (store, name, token, _) => store.CompleteAsync(name, token));
        MapQueueSettle(api, "abandon", (store, name, token, _) => store.AbandonAsync(name, token));
        MapQueueSettle(api, "deadLetter", (store, name, token, body) => store.DeadLetterAsync(name, token, body.DeadLetterReason, body.DeadLetterErrorDescription));
        MapQueueSettle(api, "defer", (store, name, token, _) => store.DeferAsync(name, token));
        MapQueueSettle(api, "renewLock", async (store, name, token, _) =>
            await store.RenewLockAsync(name, token).ConfigureAwait(false) is null ? SettleResult.LockLost : SettleResult.Success);

        MapSessions(api);
    }

    private static void MapReceive(IEndpointRouteBuilder api, string pattern, bool deadLetter) =>
        api.MapPost(pattern, (string name,
            [Description("The most messages to receive, 1 to 1000 (1 by default).")] int? maxMessages,
            [Description("peekLock (default: locked until completed, abandoned, dead-lettered or deferred) or receiveAndDelete.")] string? mode,
            [Description("A session queue: the session to receive from (accept it first).")] string? sessionId,
            [Description("A session queue: the session's lock token from sessions:accept.")] string? sessionLockToken,
            [Description("Seconds to wait for the first message when none is ready, 0 to 120 (0 by default).")] double? maxWaitTime,
            [Description("A claim-checked message (docs/api.md, \"Claim check\"): true gives its payload as the body, false (default) the reference with a fresh URL.")] bool? resolveClaimCheck,
            HttpContext context) => QueueCall(async () =>
        {
            if (maxMessages is < 1 or > 1000)
            {
                return Problem(StatusCodes.Status400BadRequest, "Invalid receive", "maxMessages must be between 1 and 1000.");
            }

            if (maxWaitTime is < 0 or > 120)
            {
                return Problem(StatusCodes.Status400BadRequest, "Invalid receive", "maxWaitTime must be between 0 and 120 seconds.");
            }

            var receiveMode = mode switch
            {
                null or "peekLock" => ReceiveMode.PeekLock,
                "receiveAndDelete" => ReceiveMode.ReceiveAndDelete,
                _ => (ReceiveMode?)null,
            };
            if (receiveMode is null)
            {
                return Problem(StatusCodes.Status400BadRequest, "Invalid receive", "mode must be peekLock or receiveAndDelete.");
            }

            var store = Store(context);
            var request = new ReceiveRequest
            {
                MaxMessages = maxMessages ?? 1,
                Mode = receiveMode.Value,
                SessionId = sessionId,
                SessionLockToken = sessionLockToken,
                DeadLetterQueue = deadLetter,
            };
            var deadline = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(maxWaitTime ?? 0);
            using var done = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
            while (true)
            {
                // Long poll: an empty receive waits for the next send (or the deadline) and tries again. The wait is
                // registered before the receive, so a send committed in between still wakes it.
                var remaining = deadline - DateTimeOffset.UtcNow;
                var arrival = remaining > TimeSpan.Zero ? store.WaitForMessagesAsync(name, remaining, done.Token) : null;
                var messages = await store.ReceiveAsync(name, request, context.RequestAborted).ConfigureAwait(false);
                if (messages.Count > 0 || arrival is null)
                {
                    await done.CancelAsync().ConfigureAwait(false);
                    return Json(MessageList(await WithClaimChecksAsync(messages, resolveClaimCheck ?? false, context).ConfigureAwait(false)));
                }

                await arrival.ConfigureAwait(false);
            }
        }))
            .WithName(deadLetter ? "ReceiveQueueDeadLetters" : "ReceiveQueueMessages")
            .WithSummary((deadLetter ? "Receives from the dead-letter queue" : "Receives messages")
                + ": up to maxMessages (1-1000, 1 by default) in peekLock (locked until settled) or receiveAndDelete mode, waiting up to "
                + "maxWaitTime seconds (0-120) for the first; a session queue needs sessionId and sessionLockToken.")
            .Produces<ValueList<QueueMessageResponse>>()
            .DescribeQueueProblems(StatusCodes.Status409Conflict);

    private static void MapQueueSettle(IEndpointRouteBuilder api, string operation, Func<IQueueStore, string, string, QueueSettleRequest, Task<SettleResult>> settle) =>
        api.MapPost($"/queues/{{name}}/messages:{operation}", (string name, HttpContext context) => QueueCall(async () =>
        {
            var (body, error) = await ReadBodyAsync<QueueSettleRequest>(context.Request).ConfigureAwait(false);
            if (body is null)
            {
                return error!;
            }

            if (body.LockTokens is not { Count: > 0 and <= 1000 })
            {
                return Problem(StatusCodes.Status400BadRequest, "Invalid lock tokens", "lockTokens must hold between 1 and 1000 lock tokens.");
            }

            var store = Store(context);
            var succeeded = new List<string>();
            var failed = new List<FailedLockToken>();
            foreach (var token in body.LockTokens)
            {
                var result = await settle(store, name, token ?? "", body).ConfigureAwait(false);
                if (result == SettleResult.LockLost)
                {
                    failed.Add(new FailedLockToken(token!, "The lock token is unknown or expired; the message may be delivered again."));
                }
                else
                {
                    succeeded.Add(token!);
                }
            }

            return Json(new LockTokensResponse(succeeded, failed));
        }))
            .WithName(SettleOperationName("QueueMessages", operation))
            .WithSummary(operation switch
            {
                "complete" => "Completes locked messages by lock token: they are removed.",
                "abandon" => "Abandons locked messages by lock token: they are offered again (dead-lettered after maxDeliveryCount).",
                "deadLetter" => "Dead-letters locked messages by lock token, with deadLetterReason and deadLetterErrorDescription.",
                "defer" => "Defers locked messages by lock token: only receiveDeferred by sequence number reaches them.",
                _ => "Renews the locks of messages by lock token.",
            })
            .WithMetadata(new RequestBodyDescription(typeof(QueueSettleRequest), false, ["application/json"]))
            .Produces<LockTokensResponse>()
            .DescribeQueueProblems(StatusCodes.Status413PayloadTooLarge);

    /// <summary>Runs a queue operation, turning <see cref="QueueException"/> into a problem response.</summary>
    private static async Task<IResult> QueueCall(Func<Task<IResult>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (QueueException ex)
        {
            return ex.Error switch
            {
                QueueError.NotFound => Problem(StatusCodes.Status404NotFound, "Queue not found", ex.Message),
                QueueError.SessionLockLost => Problem(StatusCodes.Status409Conflict, "Session lock lost", ex.Message),
                _ => Problem(StatusCodes.Status400BadRequest, "Invalid queue operation", ex.Message),
            };
        }
        catch (Exception ex) when (ex is NATS.Client.Core.NatsException or TimeoutException)
        {
            // Cluster mode: JetStream did not confirm the change in time (e.g. while it elects a leader).
            return Problem(StatusCodes.Status503ServiceUnavailable, "Queue store unavailable",
                $"The queue store did not confirm the operation ({ex.Message}); it may or may not have happened: try again (a send with the same messageId is stored once).");
        }
    }

    private static IQueueStore Store(HttpContext context) => context.RequestServices.GetRequiredService<IQueueStore>();

    /// <summary>
    /// The problems every queue operation may answer: 400 (a parameter, or an operation the queue refuses), 404 (no such
    /// queue), 503 (cluster mode: the store did not confirm in time), and <paramref name="problems"/>.
    /// </summary>
    private static RouteHandlerBuilder DescribeQueueProblems(this RouteHandlerBuilder builder, params int[] problems)
    {
        builder.ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        foreach (var status in problems)
        {
            builder.ProducesProblem(status);
        }

        return builder;
    }

    private static QueueResponse QueueView(QueueProperties queue) => new(
        queue.Name,
        queue.LockDuration,
        queue.MaxDeliveryCount,
        queue.DefaultMessageTimeToLive == TimeSpan.MaxValue ? null : queue.DefaultMessageTimeToLive,
        queue.DuplicateDetectionWindow,
        queue.RequiresSession,
        queue.DeadLetteringOnMessageExpiration);

    private static ValueList<QueueMessageResponse> MessageList(IEnumerable<ReceivedQueueMessage> messages) => new(messages.Select(MessageView).ToList());

    private static QueueMessageResponse MessageView(ReceivedQueueMessage message) => new(
        message.SequenceNumber,
        message.MessageId,
        message.SessionId,
        message.LockToken,
        message.LockedUntil,
        message.DeliveryCount,
        message.State.ToString(),
        message.EnqueuedTime,
        message.ScheduledEnqueueTime,
        message.ExpiresAt == DateTimeOffset.MaxValue ? null : message.ExpiresAt,
        message.Priority,
        message.Subject,
        message.ContentType,
        message.CorrelationId,
        message.ReplyTo,
        message.ReplyToSessionId,
        message.ApplicationProperties,
        message.DeadLetterReason,
        message.DeadLetterErrorDescription,
        BodyView(message.Body));

    private sealed class QueueRequest
    {
        public TimeSpan? LockDuration { get; set; }

        public int? MaxDeliveryCount { get; set; }

        public TimeSpan? DefaultTtl { get; set; }

        public TimeSpan? DuplicateDetectionWindow { get; set; }

        public bool? RequiresSession { get; set; }

        public bool? DeadLetteringOnMessageExpiration { get; set; }
    }

    private sealed class QueueSettleRequest
    {
        public List<string>? LockTokens { get; set; }

        public string? DeadLetterReason { get; set; }

        public string? DeadLetterErrorDescription { get; set; }
    }

    private sealed class SequenceNumbersRequest
    {
        public List<long>? SequenceNumbers { get; set; }
    }
}
