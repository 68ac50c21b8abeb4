using System.Text.Json;
using Iot.Routing.Queues;
using Iot.Routing.Rules;
using Iot.Routing.Subscriptions;

namespace Iot.Routing.Hosting;

// The answers of the routing API (docs/api.md), named so that the OpenAPI document describes them. JSON is camelCase;
// null members are left out (RoutingJson). A body the API echoes (an event, a command's answer, a message body) is any JSON.

/// <summary>A device command and its state (<c>POST /devices/{id}/commands/{name}</c>, <c>GET /commands/{commandId}</c>).</summary>
internal sealed record CommandResponse(
    string CommandId,
    string DeviceId,
    string Name,
    string? MessageId,
    string Status,
    int DeliveryCount,
    DateTimeOffset? CreatedAt,
    DateTimeOffset? UpdatedAt,
    DateTimeOffset? ExpiresAt,
    object? Answer,
    string? AnswerContentType,
    string? DeadLetterReason,
    string? DeadLetterErrorDescription,
    string? ReplyQueue,
    string? ReplySessionId);

/// <summary>How many events <c>POST /events</c> accepted.</summary>
internal sealed record EventsAcceptedResponse(int Accepted);

/// <summary>A route and how it came to be (<c>api</c>, <c>configuration</c> or <c>builtIn</c>).</summary>
internal sealed record RouteResponse(string Name, string Source, List<EventCondition>? Conditions, RouteTarget Destination, bool Enabled, string Origin, long Matched);

/// <summary>An event subscription with its counts of pending and dead-lettered events.</summary>
internal sealed record SubscriptionResponse(
    string Name,
    EventSubscriptionFilter Filter,
    EventSubscriptionEndpoint Destination,
    RetryPolicy RetryPolicy,
    DeadLetterPolicy DeadLetter,
    BatchingPolicy Batching,
    PullPolicy Pull,
    long PendingEvents,
    long DeadLetteredEvents);

/// <summary>A page of items under <c>value</c> (pull receive, dead letters, queue messages).</summary>
internal sealed record ValueList<T>(List<T> Value);

/// <summary>A pulled event with its lock.</summary>
internal sealed record PulledEventResponse(PulledEventLock BrokerProperties, JsonElement Event);

/// <summary>The lock of a pulled event.</summary>
internal sealed record PulledEventLock(string LockToken, int DeliveryCount, DateTimeOffset LockedUntil);

/// <summary>The outcome of a settlement by lock tokens (events or queue messages).</summary>
internal sealed record LockTokensResponse(IReadOnlyList<string> SucceededLockTokens, List<FailedLockToken> FailedLockTokens);

/// <summary>A lock token that could not be settled, and why.</summary>
internal sealed record FailedLockToken(string LockToken, string Error);

/// <summary>A dead-lettered event of a subscription.</summary>
internal sealed record DeadLetteredEventResponse(
    string EventId, string? Reason, int DeliveryAttempts, string? LastOutcome, DateTimeOffset? DeadLetteredAt, DateTimeOffset? EnqueuedAt, JsonElement Event);

/// <summary>How many dead-lettered events were queued for delivery again.</summary>
internal sealed record RedeliveredResponse(int Redelivered);

/// <summary>A queue's settings (durations as <c>d.hh:mm:ss</c>; no <c>defaultTtl</c>: messages never expire).</summary>
internal sealed record QueueResponse(
    string Name,
    TimeSpan LockDuration,
    int MaxDeliveryCount,
    TimeSpan? DefaultTtl,
    TimeSpan DuplicateDetectionWindow,
    bool RequiresSession,
    bool DeadLetteringOnMessageExpiration);

/// <summary>A queue's settings and its message counts.</summary>
internal sealed record QueueDetailsResponse(QueueResponse Queue, QueueStatistics Statistics);

/// <summary>The sequence number of a sent message; <c>duplicate</c> when its messageId was seen within the window.</summary>
internal sealed record QueueSendResponse(long SequenceNumber, bool Duplicate);

/// <summary>A queue message as received or peeked.</summary>
internal sealed record QueueMessageResponse(
    long SequenceNumber,
    string MessageId,
    string? SessionId,
    string? LockToken,
    DateTimeOffset? LockedUntil,
    int DeliveryCount,
    string State,
    DateTimeOffset EnqueuedTime,
    DateTimeOffset ScheduledEnqueueTime,
    DateTimeOffset? ExpiresAt,
    int Priority,
    string? Subject,
    string? ContentType,
    string? CorrelationId,
    string? ReplyTo,
    string? ReplyToSessionId,
    IReadOnlyDictionary<string, string> ApplicationProperties,
    string? DeadLetterReason,
    string? DeadLetterErrorDescription,
    object Body);

/// <summary>A session's renewed lock.</summary>
internal sealed record SessionLockRenewedResponse(string SessionId, DateTimeOffset LockedUntil);
