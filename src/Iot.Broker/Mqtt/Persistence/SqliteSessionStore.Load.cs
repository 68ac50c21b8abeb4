using Iot.Messaging;
using Microsoft.Data.Sqlite;

namespace Iot.Broker.Mqtt.Persistence;

internal sealed partial class SqliteSessionStore
{
    /// <inheritdoc />
    /// <remarks>
    /// Reads through its own connection in one read transaction (a consistent WAL snapshot). A record that fails
    /// to decode is logged, counted in <see cref="CorruptRecordsSkipped"/> and skipped, so one bad record costs
    /// that record, not the broker's start-up; it stays in the file until overwritten or its session is deleted.
    /// Subscriptions and messages of a client id without a session row are ignored (and logged).
    /// </remarks>
    public async Task<StoreSnapshot> LoadAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed), this);
        await using var connection = SessionStoreSchema.Open(_path);
        await using var transaction = connection.BeginTransaction(deferred: true);

        var sessions = new List<SessionBuilder>();
        var byClientId = new Dictionary<string, SessionBuilder>(StringComparer.Ordinal);
        var skipped = 0;
        var orphanSubscriptions = 0;
        var orphanMessages = 0;
        var subscriptionCount = 0;
        var messageCount = 0;

        await using (var command = CreateQuery(transaction,
            "SELECT client_id, expiry_interval, disconnected_at, protocol_version, owner FROM sessions ORDER BY client_id;"))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var clientId = reader.GetString(0);
                try
                {
                    var session = new PersistedSession(
                        clientId,
                        checked((uint)reader.GetInt64(1)),
                        reader.IsDBNull(2) ? null : reader.GetInt64(2),
                        checked((byte)reader.GetInt64(3)),
                        reader.IsDBNull(4) ? null : reader.GetString(4));
                    var builder = new SessionBuilder(session);
                    sessions.Add(builder);
                    byClientId.Add(clientId, builder);
                }
                catch (Exception ex) when (ex is OverflowException or InvalidCastException or FormatException)
                {
                    skipped++;
                    LogCorruptRow(_logger, ex, "sessions", LogSafe.Escape(clientId));
                }
            }
        }

        await using (var command = CreateQuery(transaction, """
            SELECT client_id, filter, qos, no_local, retain_as_published, retain_handling, subscription_identifier
            FROM subscriptions ORDER BY client_id, filter;
            """))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var clientId = reader.GetString(0);
                if (!byClientId.TryGetValue(clientId, out var builder))
                {
                    orphanSubscriptions++;
                    continue;
                }

                try
                {
                    builder.Subscriptions.Add(new PersistedSubscription(
                        reader.GetString(1),
                        checked((byte)reader.GetInt64(2)),
                        reader.GetInt64(3) != 0,
                        reader.GetInt64(4) != 0,
                        checked((byte)reader.GetInt64(5)),
                        checked((uint)reader.GetInt64(6))));
                    subscriptionCount++;
                }
                catch (Exception ex) when (ex is OverflowException or InvalidCastException or FormatException)
                {
                    skipped++;
                    LogCorruptRow(_logger, ex, "subscriptions", LogSafe.Escape(clientId));
                }
            }
        }

        await using (var command = CreateQuery(transaction,
            "SELECT client_id, sequence, packet_id, released, message FROM messages ORDER BY client_id, sequence;"))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var clientId = reader.GetString(0);
                var sequence = reader.GetInt64(1);
                if (!byClientId.TryGetValue(clientId, out var builder))
                {
                    orphanMessages++;
                    continue;
                }

                try
                {
                    var message = BrokerMessageSerializer.Deserialize(reader.GetFieldValue<byte[]>(4));
                    builder.Messages.Add(new PersistedMessage(
                        sequence, checked((ushort)reader.GetInt64(2)), reader.GetInt64(3) != 0, message));
                    messageCount++;
                }
                catch (Exception ex) when (ex is InvalidDataException or OverflowException or InvalidCastException or FormatException)
                {
                    skipped++;
                    LogCorruptMessage(_logger, ex, LogSafe.Escape(clientId), sequence);
                }
            }
        }

        var retained = new List<BrokerMessage>();
        var retainedOwners = new Dictionary<string, string>(StringComparer.Ordinal);
        await using (var command = CreateQuery(transaction, "SELECT topic, message, owner FROM retained ORDER BY topic;"))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var topic = reader.GetString(0);
                try
                {
                    var message = BrokerMessageSerializer.Deserialize(reader.GetFieldValue<byte[]>(1));
                    if (!string.Equals(message.Topic, topic, StringComparison.Ordinal))
                    {
                        throw new InvalidDataException($"Corrupt retained message: the record's topic '{message.Topic}' is not its key.");
                    }

                    retained.Add(message);
                    if (!reader.IsDBNull(2))
                    {
                        retainedOwners[topic] = reader.GetString(2);
                    }
                }
                catch (Exception ex) when (ex is InvalidDataException or InvalidCastException or FormatException)
                {
                    skipped++;
                    LogCorruptRetained(_logger, ex, LogSafe.Escape(topic));
                }
            }
        }

        _statistics.Skipped(skipped);
        if (orphanSubscriptions + orphanMessages > 0)
        {
            LogOrphans(_logger, orphanSubscriptions, orphanMessages);
        }

        LogLoaded(_logger, sessions.Count, subscriptionCount, messageCount, retained.Count, skipped);
        return new StoreSnapshot(sessions.ConvertAll(s => s.Build()), retained, retainedOwners);
    }

    private static SqliteCommand CreateQuery(SqliteTransaction transaction, string sql)
    {
        var command = transaction.Connection!.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command;
    }

    private sealed class SessionBuilder(PersistedSession session)
    {
        public List<PersistedSubscription> Subscriptions { get; } = [];

        public List<PersistedMessage> Messages { get; } = [];

        public PersistedSessionState Build() => new(session, Subscriptions, Messages);
    }
}
