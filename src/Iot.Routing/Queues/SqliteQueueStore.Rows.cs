using System.Text.Json;
using Iot.Routing.Internal;
using Microsoft.Data.Sqlite;

namespace Iot.Routing.Queues;

internal sealed partial class SqliteQueueStore
{
    private const string Columns =
        "seq, message_id, session_id, priority, state, enqueued_at, visible_at, expires_at, delivery_count, lock_token, locked_until, dl_reason, dl_description, properties, body";

    private static SqliteCommand Command(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = SqliteStatements.Get(connection, sql);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return command;
    }

    private static int NonQuery(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = Command(connection, sql, parameters);
        return command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = Command(connection, sql, parameters);
        var value = command.ExecuteScalar();
        return value is DBNull ? null : value;
    }

    private static List<MessageRow> Query(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = Command(connection, sql, parameters);
        using var reader = command.ExecuteReader();
        var rows = new List<MessageRow>();
        while (reader.Read())
        {
            rows.Add(new MessageRow
            {
                Seq = reader.GetInt64(0),
                MessageId = reader.GetString(1),
                SessionId = reader.IsDBNull(2) ? null : reader.GetString(2),
                Priority = reader.GetInt32(3),
                State = reader.GetInt32(4),
                EnqueuedAt = reader.GetInt64(5),
                VisibleAt = reader.GetInt64(6),
                ExpiresAt = reader.GetInt64(7),
                DeliveryCount = reader.GetInt32(8),
                LockToken = reader.IsDBNull(9) ? null : reader.GetString(9),
                LockedUntil = reader.IsDBNull(10) ? null : reader.GetInt64(10),
                DeadLetterReason = reader.IsDBNull(11) ? null : reader.GetString(11),
                DeadLetterDescription = reader.IsDBNull(12) ? null : reader.GetString(12),
                Properties = reader.IsDBNull(13) ? null : reader.GetString(13),
                Body = (byte[])reader.GetValue(14),
            });
        }

        return rows;
    }

    private sealed class MessageRow
    {
        public long Seq { get; init; }

        public required string MessageId { get; init; }

        public string? SessionId { get; init; }

        public int Priority { get; init; }

        public int State { get; set; }

        public long EnqueuedAt { get; init; }

        public long VisibleAt { get; init; }

        public long ExpiresAt { get; init; }

        public int DeliveryCount { get; set; }

        public string? LockToken { get; set; }

        public long? LockedUntil { get; set; }

        public string? DeadLetterReason { get; init; }

        public string? DeadLetterDescription { get; init; }

        public string? Properties { get; init; }

        public required byte[] Body { get; init; }

        public ReceivedQueueMessage ToMessage(long now, bool withLock)
        {
            var stored = StoredProperties.Deserialize(Properties);
            return new ReceivedQueueMessage
            {
                SequenceNumber = Seq,
                MessageId = MessageId,
                Body = Body,
                SessionId = SessionId,
                Subject = stored?.Subject,
                ContentType = stored?.ContentType,
                CorrelationId = stored?.CorrelationId,
                ReplyTo = stored?.ReplyTo,
                ReplyToSessionId = stored?.ReplyToSessionId,
                ApplicationProperties = stored?.ApplicationProperties ?? new Dictionary<string, string>(),
                Priority = Priority,
                EnqueuedTime = FromMs(EnqueuedAt),
                ScheduledEnqueueTime = FromMs(VisibleAt),
                ExpiresAt = FromMs(ExpiresAt),
                DeliveryCount = DeliveryCount,
                LockToken = withLock ? LockToken : null,
                LockedUntil = LockedUntil is { } until && until > now ? FromMs(until) : null,
                State = State switch
                {
                    2 => QueueMessageState.Deferred,
                    3 => QueueMessageState.DeadLettered,
                    _ => VisibleAt > now ? QueueMessageState.Scheduled : QueueMessageState.Active,
                },
                DeadLetterReason = DeadLetterReason,
                DeadLetterErrorDescription = DeadLetterDescription,
            };
        }
    }

    /// <summary>The optional message fields, stored as one JSON column (null when all are absent).</summary>
    private sealed class StoredProperties
    {
        public string? Subject { get; init; }

        public string? ContentType { get; init; }

        public string? CorrelationId { get; init; }

        public string? ReplyTo { get; init; }

        public string? ReplyToSessionId { get; init; }

        public Dictionary<string, string>? ApplicationProperties { get; init; }

        public static string? Serialize(QueueMessage message) =>
            message.Subject is null && message.ContentType is null && message.CorrelationId is null && message.ReplyTo is null
            && message.ReplyToSessionId is null && message.ApplicationProperties is not { Count: > 0 }
                ? null
                : JsonSerializer.Serialize(new StoredProperties
                {
                    Subject = message.Subject,
                    ContentType = message.ContentType,
                    CorrelationId = message.CorrelationId,
                    ReplyTo = message.ReplyTo,
                    ReplyToSessionId = message.ReplyToSessionId,
                    ApplicationProperties = message.ApplicationProperties is { Count: > 0 } p ? new Dictionary<string, string>(p, StringComparer.Ordinal) : null,
                }, RoutingJson.Options);

        public static StoredProperties? Deserialize(string? json) =>
            json is null ? null : JsonSerializer.Deserialize<StoredProperties>(json, RoutingJson.Options);
    }
}
