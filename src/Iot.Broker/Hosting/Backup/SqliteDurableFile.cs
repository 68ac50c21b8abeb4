using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Iot.Broker.Hosting.Backup;

/// <summary>
/// One SQLite database of the data directory (<c>mqtt.db</c>, <c>identities.db</c>, <c>routing.db</c>,
/// <c>queues.db</c>) seen from the outside through connections of its own, so that neither the probe nor the backup
/// goes through (or holds up) the store's writer: the database is in WAL mode, where readers do not block the writer.
/// </summary>
internal sealed class SqliteDurableFile(string dataDir, string fileName) : IDurableStore
{
    private readonly string _path = Path.Combine(dataDir, fileName);

    public string Name => fileName;

    /// <summary>
    /// A transaction that writes one row of a table of its own (<c>iot_health</c>, created on first use) with
    /// <c>synchronous=FULL</c>: it takes the database's write lock, as the store's writer does, and reaches the disk.
    /// </summary>
    public Task ProbeWriteAsync(CancellationToken cancellationToken) => Task.Run(() =>
    {
        using var connection = Open(SqliteOpenMode.ReadWrite);
        Execute(connection, "PRAGMA synchronous=FULL;");
        Execute(connection, "BEGIN IMMEDIATE;");
        Execute(connection, "CREATE TABLE IF NOT EXISTS iot_health (id INTEGER PRIMARY KEY, checked_at INTEGER NOT NULL);");
        Execute(connection, string.Create(CultureInfo.InvariantCulture,
            $"INSERT OR REPLACE INTO iot_health (id, checked_at) VALUES (1, {DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()});"));
        Execute(connection, "COMMIT;");
    }, cancellationToken);

    /// <summary>
    /// SQLite's online backup in one step from a read-only connection: the copy is the database as of that step's read
    /// transaction (every write committed before it, none after), while the store keeps writing.
    /// </summary>
    public Task<IReadOnlyDictionary<string, long>> BackupAsync(string target, CancellationToken cancellationToken) => Task.Run(() =>
    {
        var destination = Path.Combine(target, fileName);
        using (var source = Open(SqliteOpenMode.ReadOnly))
        using (var copy = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = destination, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false }.ToString()))
        {
            copy.Open();
            source.BackupDatabase(copy);
            Execute(copy, "PRAGMA journal_mode=DELETE;");
        }

        return (IReadOnlyDictionary<string, long>)new Dictionary<string, long>(StringComparer.Ordinal) { ["bytes"] = new FileInfo(destination).Length };
    }, cancellationToken);

    private SqliteConnection Open(SqliteOpenMode mode)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = _path, Mode = mode, Pooling = false, DefaultTimeout = 5 }.ToString());
        try
        {
            connection.Open();
            Execute(connection, "PRAGMA busy_timeout=5000;");
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
