namespace Iot.Routing.Tests.Internal;

/// <summary>
/// The files written before schema versions were kept (<c>PRAGMA user_version</c> 0), as that code created them: the
/// migration tests build these by hand so that they do not depend on the code under test.
/// </summary>
internal static class LegacyLayouts
{
    /// <summary>The tables the routing store created, in <c>routing.db</c> and (empty) in <c>queues.db</c>.</summary>
    public const string RoutingTables = """
        CREATE TABLE IF NOT EXISTS routes(name TEXT PRIMARY KEY, definition TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS subscriptions(name TEXT PRIMARY KEY, definition TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS deliveries(
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            subscription TEXT NOT NULL,
            event_id TEXT NOT NULL,
            event BLOB NOT NULL,
            enqueued_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER NOT NULL,
            lock_token TEXT NULL,
            locked_until INTEGER NULL,
            dead_lettered INTEGER NOT NULL DEFAULT 0,
            reason TEXT NULL,
            last_outcome TEXT NULL,
            dead_lettered_at INTEGER NULL);
        CREATE INDEX IF NOT EXISTS ix_deliveries_due ON deliveries(subscription, dead_lettered, next_attempt_at, seq);
        CREATE UNIQUE INDEX IF NOT EXISTS ix_deliveries_lock ON deliveries(lock_token) WHERE lock_token IS NOT NULL;
        CREATE INDEX IF NOT EXISTS ix_deliveries_dead_lettered ON deliveries(subscription, dead_lettered_at) WHERE dead_lettered = 1;
        """;

    /// <summary>The queue store's tables and the command records.</summary>
    public const string QueueTables = """
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
        CREATE TABLE IF NOT EXISTS commands(
            command_id TEXT PRIMARY KEY,
            device_id TEXT NOT NULL,
            name TEXT NOT NULL,
            message_id TEXT NOT NULL,
            seq INTEGER NULL,
            status INTEGER NOT NULL,
            delivery_count INTEGER NOT NULL DEFAULT 0,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            reply_queue TEXT NULL,
            reply_session_id TEXT NULL,
            answer BLOB NULL,
            answer_content_type TEXT NULL,
            reason TEXT NULL,
            description TEXT NULL);
        CREATE INDEX IF NOT EXISTS ix_commands_message ON commands(device_id, message_id, created_at);
        """;
}
