using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Iot.Routing.Internal;

/// <summary>
/// Opens the SQLite databases of the stores, every one the same way: the directory created, one long-lived
/// connection without pooling (disposing it closes the file and checkpoints the WAL), WAL journal, <c>synchronous=FULL</c>
/// (a committed transaction survives a power cut), a busy timeout, foreign keys enforced, and the schema migrated to
/// the version this code writes.
/// </summary>
/// <remarks>
/// Nothing here knows a store's tables: a store passes its <see cref="SqliteSchema"/>, so each file holds only its own
/// tables. A file with a newer schema than the code knows is refused rather than written by code that does not
/// understand it.
/// </remarks>
internal static class SqliteDatabase
{
    /// <summary>How long a statement waits for another connection's lock before it fails (ms).</summary>
    public const int BusyTimeoutMilliseconds = 5000;

    private static readonly string s_pragmas = string.Create(CultureInfo.InvariantCulture,
        $"PRAGMA synchronous=FULL; PRAGMA busy_timeout={BusyTimeoutMilliseconds}; PRAGMA foreign_keys=ON;");

    /// <summary>Opens (creating when needed) the database at <paramref name="path"/> and brings it to <paramref name="schema"/>'s version.</summary>
    /// <exception cref="NotSupportedException">SQLite refused WAL, or the file has a newer schema than <paramref name="schema"/>.</exception>
    /// <exception cref="SqliteException">The file is not a database or cannot be written.</exception>
    public static SqliteConnection Open(string path, SqliteSchema schema)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(schema);
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        var connection = new SqliteConnection(ConnectionString(path, SqliteOpenMode.ReadWriteCreate));
        try
        {
            connection.Open();
            var mode = Convert.ToString(Scalar(connection, "PRAGMA journal_mode=WAL;"), CultureInfo.InvariantCulture);
            if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            {
                throw new NotSupportedException($"SQLite refused WAL mode for '{path}' (journal mode is '{mode}').");
            }

            Execute(connection, s_pragmas);
            Migrate(connection, path, schema);
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>A second, read-only connection to a database that <see cref="Open"/> created (start-up reads beside the writer).</summary>
    public static SqliteConnection OpenReadOnly(string path)
    {
        var connection = new SqliteConnection(ConnectionString(path, SqliteOpenMode.ReadOnly));
        try
        {
            connection.Open();
            Execute(connection, string.Create(CultureInfo.InvariantCulture, $"PRAGMA busy_timeout={BusyTimeoutMilliseconds};"));
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>The schema version of the open database.</summary>
    public static int Version(SqliteConnection connection) =>
        Convert.ToInt32(Scalar(connection, "PRAGMA user_version;"), CultureInfo.InvariantCulture);

    /// <summary>Runs <paramref name="sql"/> through the connection's prepared statements (<see cref="SqliteStatements"/>).</summary>
    public static void Execute(SqliteConnection connection, string sql) => SqliteStatements.Get(connection, sql).ExecuteNonQuery();

    private static void Migrate(SqliteConnection connection, string path, SqliteSchema schema)
    {
        var version = Version(connection);
        if (version == schema.Version)
        {
            return;
        }

        if (version > schema.Version)
        {
            throw new NotSupportedException($"'{path}' has {schema.Name} schema version {version}; this version supports up to {schema.Version}.");
        }

        // BEGIN as SQL, not BeginTransaction: the steps run through SqliteStatements' commands, which carry no transaction.
        Execute(connection, "BEGIN IMMEDIATE");
        try
        {
            for (int step = version; step < schema.Version; step++)
            {
                schema.Migrations[step](connection);
            }

            Execute(connection, string.Create(CultureInfo.InvariantCulture, $"PRAGMA user_version = {schema.Version};"));
            Execute(connection, "COMMIT");
        }
        catch
        {
            Execute(connection, "ROLLBACK");
            throw;
        }
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    private static string ConnectionString(string path, SqliteOpenMode mode) => new SqliteConnectionStringBuilder
    {
        DataSource = path,
        Mode = mode,
        Pooling = false,
    }.ToString();
}
