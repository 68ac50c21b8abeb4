using System.Text.Json;
using Iot.Routing.Commands;
using Iot.Routing.Internal;
using Microsoft.Data.Sqlite;

namespace Iot.Routing.Queues;

internal sealed partial class SqliteQueueStore
{
    /// <summary>
    /// The schema of <c>queues.db</c>: the queues and the command records (<see cref="SqliteCommandStore"/>). Version 1
    /// is the layout of the files written before versions were kept, which also held the routing store's tables (the
    /// queue store opened its file through the routing store): version 2 drops those when they are empty, as they
    /// always were (nothing wrote them in this file).
    /// </summary>
    internal static readonly SqliteSchema Schema = new("queue store", [SqliteSchema.Sql("""
        CREATE TABLE IF NOT EXISTS queues(name TEXT PRIMARY KEY, definition TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS queue_messages(
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            queue TEXT NOT NULL,
            message_id TEXT NOT NULL,
            session_id TEXT NULL,
            priority INTEGER NOT NULL,
            state INTEGER NOT NULL,
            enqueued_at INTEGER NOT NULL,
            visible_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            delivery_count INTEGER NOT NULL DEFAULT 0,
            lock_token TEXT NULL,
            locked_until INTEGER NULL,
            dl_reason TEXT NULL,
            dl_description TEXT NULL,
            properties TEXT NULL,
            body BLOB NOT NULL);
        CREATE INDEX IF NOT EXISTS ix_queue_messages_receive ON queue_messages(queue, state, session_id, priority DESC, seq);
        CREATE UNIQUE INDEX IF NOT EXISTS ix_queue_messages_lock ON queue_messages(lock_token) WHERE lock_token IS NOT NULL;
        CREATE TABLE IF NOT EXISTS queue_duplicates(queue TEXT NOT NULL, message_id TEXT NOT NULL, seen_at INTEGER NOT NULL, seq INTEGER NOT NULL,
            PRIMARY KEY(queue, message_id)) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS ix_queue_duplicates_seen ON queue_duplicates(queue, seen_at);
        CREATE TABLE IF NOT EXISTS queue_sessions(queue TEXT NOT NULL, session_id TEXT NOT NULL, lock_token TEXT NULL, locked_until INTEGER NULL,
            state BLOB NULL, PRIMARY KEY(queue, session_id)) WITHOUT ROWID;
        """ + SqliteCommandStore.Schema), DropEmptyRoutingTables]);

    private void ReadQueues(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT name, definition FROM queues";
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            // One unreadable definition costs that queue only (its messages stay in the file); the start-up
            // log names it (SkippedDefinitions).
            var name = reader.GetString(0);
            try
            {
                var queue = JsonSerializer.Deserialize<QueueProperties>(reader.GetString(1), RoutingJson.Options)
                    ?? throw new JsonException("the definition is null");
                _queues[queue.Name] = queue;
            }
            catch (Exception ex) when (ex is JsonException or InvalidCastException or ArgumentException)
            {
                SkippedDefinitions.Add((name, ex.Message));
            }
        }
    }

    // Schema version 2: the routing store's tables leave queues.db. A table that holds rows (never written by any
    // version, but a file is the user's) is kept rather than lose them.
    private static void DropEmptyRoutingTables(SqliteConnection connection)
    {
        foreach (var table in (string[])["deliveries", "subscriptions", "routes"])
        {
            using var exists = connection.CreateCommand();
            exists.CommandText = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $t";
            exists.Parameters.AddWithValue("$t", table);
            if ((long)exists.ExecuteScalar()! == 0)
            {
                continue;
            }

            using var rows = connection.CreateCommand();
            rows.CommandText = "SELECT EXISTS(SELECT 1 FROM " + table + ")";
            if ((long)rows.ExecuteScalar()! == 0)
            {
                using var drop = connection.CreateCommand();
                drop.CommandText = "DROP TABLE " + table;
                drop.ExecuteNonQuery();
            }
        }
    }
}
