using Microsoft.Data.Sqlite;

namespace Iot.Broker.Mqtt.Persistence;

/// <summary>
/// The prepared statements of <see cref="SqliteSessionStore"/>'s writer: prepared once on its connection and reused by
/// every batch. Used by the writer loop only.
/// </summary>
internal sealed class SessionStoreStatements : IDisposable
{
    private readonly SqliteCommand _upsertSession;
    private readonly SqliteCommand _deleteSession;
    private readonly SqliteCommand _upsertSubscription;
    private readonly SqliteCommand _deleteSubscription;
    private readonly SqliteCommand _appendMessage;
    private readonly SqliteCommand _markReleased;
    private readonly SqliteCommand _deleteMessage;
    private readonly SqliteCommand _setRetained;
    private readonly SqliteCommand _deleteRetained;
    private readonly SqliteCommand[] _all;

    public SessionStoreStatements(SqliteConnection connection)
    {
        _upsertSession = Prepare(connection, """
            INSERT INTO sessions (client_id, expiry_interval, disconnected_at, protocol_version, owner) VALUES ($p0, $p1, $p2, $p3, $p4)
            ON CONFLICT (client_id) DO UPDATE SET expiry_interval = excluded.expiry_interval,
                disconnected_at = excluded.disconnected_at, protocol_version = excluded.protocol_version, owner = excluded.owner;
            """, SqliteType.Text, SqliteType.Integer, SqliteType.Integer, SqliteType.Integer, SqliteType.Text);

        // No foreign keys: a constraint failure would fail the whole batch, so the cascade is explicit.
        _deleteSession = Prepare(connection, """
            DELETE FROM messages WHERE client_id = $p0;
            DELETE FROM subscriptions WHERE client_id = $p0;
            DELETE FROM sessions WHERE client_id = $p0;
            """, SqliteType.Text);
        _upsertSubscription = Prepare(connection, """
            INSERT INTO subscriptions (client_id, filter, qos, no_local, retain_as_published, retain_handling, subscription_identifier)
            VALUES ($p0, $p1, $p2, $p3, $p4, $p5, $p6)
            ON CONFLICT (client_id, filter) DO UPDATE SET qos = excluded.qos, no_local = excluded.no_local,
                retain_as_published = excluded.retain_as_published, retain_handling = excluded.retain_handling,
                subscription_identifier = excluded.subscription_identifier;
            """, SqliteType.Text, SqliteType.Text, SqliteType.Integer, SqliteType.Integer, SqliteType.Integer, SqliteType.Integer, SqliteType.Integer);
        _deleteSubscription = Prepare(connection,
            "DELETE FROM subscriptions WHERE client_id = $p0 AND filter = $p1;", SqliteType.Text, SqliteType.Text);

        // An append of an existing sequence (a retry after a failed batch) replaces it.
        _appendMessage = Prepare(connection, """
            INSERT INTO messages (client_id, sequence, packet_id, released, message) VALUES ($p0, $p1, 0, 0, $p2)
            ON CONFLICT (client_id, sequence) DO UPDATE SET packet_id = 0, released = 0, message = excluded.message;
            """, SqliteType.Text, SqliteType.Integer, SqliteType.Blob);
        _markReleased = Prepare(connection,
            "UPDATE messages SET released = 1, packet_id = $p2 WHERE client_id = $p0 AND sequence = $p1;",
            SqliteType.Text, SqliteType.Integer, SqliteType.Integer);
        _deleteMessage = Prepare(connection,
            "DELETE FROM messages WHERE client_id = $p0 AND sequence = $p1;", SqliteType.Text, SqliteType.Integer);
        _setRetained = Prepare(connection, """
            INSERT INTO retained (topic, message, owner) VALUES ($p0, $p1, $p2)
            ON CONFLICT (topic) DO UPDATE SET message = excluded.message, owner = excluded.owner;
            """, SqliteType.Text, SqliteType.Blob, SqliteType.Text);
        _deleteRetained = Prepare(connection, "DELETE FROM retained WHERE topic = $p0;", SqliteType.Text);
        _all =
        [
            _upsertSession, _deleteSession, _upsertSubscription, _deleteSubscription, _appendMessage,
            _markReleased, _deleteMessage, _setRetained, _deleteRetained,
        ];
    }

    /// <summary>Points the reused commands at this batch's transaction (they still name the previous, finished one).</summary>
    public void Enlist(SqliteTransaction transaction)
    {
        foreach (var command in _all)
        {
            command.Transaction = transaction;
        }
    }

    public void Execute(in SessionStoreWrite operation)
    {
        switch (operation.Kind)
        {
            case SessionStoreWriteKind.UpsertSession:
                var session = operation.Session!;
                Run(_upsertSession, operation.Key, (long)session.SessionExpiryInterval,
                    session.DisconnectedAtUnixMs is { } disconnectedAt ? disconnectedAt : DBNull.Value,
                    (long)session.ProtocolVersion,
                    session.Owner is { } owner ? owner : DBNull.Value);
                break;
            case SessionStoreWriteKind.DeleteSession:
                Run(_deleteSession, operation.Key);
                break;
            case SessionStoreWriteKind.UpsertSubscription:
                var subscription = operation.Subscription!;
                Run(_upsertSubscription, operation.Key, subscription.Filter, (long)subscription.QualityOfService,
                    subscription.NoLocal ? 1L : 0L, subscription.RetainAsPublished ? 1L : 0L,
                    (long)subscription.RetainHandling, (long)subscription.SubscriptionIdentifier);
                break;
            case SessionStoreWriteKind.DeleteSubscription:
                Run(_deleteSubscription, operation.Key, operation.Text);
                break;
            case SessionStoreWriteKind.AppendMessage:
                Run(_appendMessage, operation.Key, operation.Sequence, operation.Record);
                break;
            case SessionStoreWriteKind.MarkReleased:
                Run(_markReleased, operation.Key, operation.Sequence, (long)operation.PacketId);
                break;
            case SessionStoreWriteKind.DeleteMessage:
                Run(_deleteMessage, operation.Key, operation.Sequence);
                break;
            case SessionStoreWriteKind.SetRetained:
                Run(_setRetained, operation.Key, operation.Record, (object?)operation.Owner ?? DBNull.Value);
                break;
            case SessionStoreWriteKind.DeleteRetained:
                Run(_deleteRetained, operation.Key);
                break;
            default:
                throw new InvalidOperationException($"Unknown session store operation {operation.Kind}.");
        }
    }

    public void Dispose()
    {
        foreach (var command in _all)
        {
            command.Dispose();
        }
    }

    private static SqliteCommand Prepare(SqliteConnection connection, string sql, params ReadOnlySpan<SqliteType> types)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        for (var i = 0; i < types.Length; i++)
        {
            command.Parameters.Add(new SqliteParameter($"$p{i}", types[i]));
        }

        command.Prepare();
        return command;
    }

    private static void Run(SqliteCommand command, params ReadOnlySpan<object?> values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            command.Parameters[i].Value = values[i];
        }

        command.ExecuteNonQuery();
    }
}
