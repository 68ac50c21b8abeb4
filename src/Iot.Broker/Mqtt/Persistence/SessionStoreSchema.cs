using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Iot.Broker.Mqtt.Persistence;

/// <summary>Opens <c>mqtt.db</c> connections and creates or upgrades its tables (<see cref="SqliteSessionStore"/>).</summary>
internal static partial class SessionStoreSchema
{
    /// <summary>Opens the one long-lived connection of a store on <paramref name="path"/>.</summary>
    public static SqliteConnection Open(string path)
    {
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,

            // One long-lived connection per store: disposal must really close the file (and checkpoint the WAL).
            Pooling = false,
        };
        var connection = new SqliteConnection(builder.ToString());
        connection.Open();
        return connection;
    }

    /// <summary>Creates or upgrades the tables to <see cref="SqliteSessionStore.SchemaVersion"/>; returns the version found.</summary>
    /// <exception cref="NotSupportedException">The database has a newer schema than this broker knows.</exception>
    public static int Migrate(SqliteConnection connection, string path, ILogger logger)
    {
        var version = Convert.ToInt32(Scalar(connection, "PRAGMA user_version;"), CultureInfo.InvariantCulture);
        if (version == SqliteSessionStore.SchemaVersion)
        {
            return version;
        }

        if (version > SqliteSessionStore.SchemaVersion)
        {
            throw new NotSupportedException(
                $"'{path}' has session store schema version {version}; this broker supports up to {SqliteSessionStore.SchemaVersion}.");
        }

        using var transaction = connection.BeginTransaction();
        using var command = connection.CreateCommand();
        command.Transaction = transaction;

        // Rows of small tables live in their key's B-tree (WITHOUT ROWID); message blobs stay in rowid tables,
        // which SQLite recommends for large rows.
        command.CommandText = """
            CREATE TABLE IF NOT EXISTS sessions (
                client_id        TEXT    NOT NULL PRIMARY KEY,
                expiry_interval  INTEGER NOT NULL,
                disconnected_at  INTEGER NULL,
                protocol_version INTEGER NOT NULL,
                owner            TEXT    NULL
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS subscriptions (
                client_id               TEXT    NOT NULL,
                filter                  TEXT    NOT NULL,
                qos                     INTEGER NOT NULL,
                no_local                INTEGER NOT NULL,
                retain_as_published     INTEGER NOT NULL,
                retain_handling         INTEGER NOT NULL,
                subscription_identifier INTEGER NOT NULL,
                PRIMARY KEY (client_id, filter)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS messages (
                client_id TEXT    NOT NULL,
                sequence  INTEGER NOT NULL,
                packet_id INTEGER NOT NULL DEFAULT 0,
                released  INTEGER NOT NULL DEFAULT 0,
                message   BLOB    NOT NULL,
                PRIMARY KEY (client_id, sequence)
            );
            CREATE TABLE IF NOT EXISTS retained (
                topic   TEXT NOT NULL PRIMARY KEY,
                message BLOB NOT NULL
            );
            """;
        command.ExecuteNonQuery();
        if (version == 1)
        {
            // Version 2: a session records the identity that owns it (docs/security.md, "Client ids and sessions").
            // Sessions stored before have no owner: the first identity that resumes one becomes its owner.
            command.CommandText = "ALTER TABLE sessions ADD COLUMN owner TEXT NULL;";
            command.ExecuteNonQuery();
        }

        command.CommandText = "PRAGMA user_version = " + SqliteSessionStore.SchemaVersion.ToString(CultureInfo.InvariantCulture) + ";";
        command.ExecuteNonQuery();
        transaction.Commit();
        LogSchemaCreated(logger, path, version, SqliteSessionStore.SchemaVersion);
        return SqliteSessionStore.SchemaVersion;
    }

    /// <summary>
    /// Adds the retained messages' owner column (quotas per identity) to a store made before it existed. Additive and
    /// without a schema version: an older broker ignores the column, and rows without an owner stay readable.
    /// </summary>
    public static void AddRetainedOwnerColumn(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM pragma_table_info('retained') WHERE name = 'owner';";
        if (Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture) == 0)
        {
            Execute(connection, "ALTER TABLE retained ADD COLUMN owner TEXT NULL;");
        }
    }

    public static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    [LoggerMessage(1101, LogLevel.Information, "Session store schema of {Path} migrated from version {FromVersion} to {ToVersion}")]
    private static partial void LogSchemaCreated(ILogger logger, string path, int fromVersion, int toVersion);
}
