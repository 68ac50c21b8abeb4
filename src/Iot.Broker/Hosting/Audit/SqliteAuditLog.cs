using System.Globalization;
using System.Text;
using Microsoft.Data.Sqlite;

namespace Iot.Broker.Hosting.Audit;

/// <summary>
/// <see cref="IAuditLog"/> on SQLite: <c>{dataDir}/audit.db</c>, WAL with <c>synchronous=FULL</c>, so an entry is on disk
/// when <see cref="AppendAsync"/> completes. Administrative changes are rare: one connection behind a lock, each call on
/// the thread pool, is enough (no group commit).
/// </summary>
internal sealed class SqliteAuditLog : IAuditLog, IDisposable
{
    /// <summary>The file in the data directory.</summary>
    public const string FileName = "audit.db";

    private readonly SqliteConnection _connection;
    private readonly Lock _lock = new();

    public SqliteAuditLog(string dataDir)
    {
        Directory.CreateDirectory(dataDir);
        _connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(dataDir, FileName),
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        }.ToString());
        try
        {
            _connection.Open();
            Execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;");
            Execute("""
                CREATE TABLE IF NOT EXISTS audit (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, actor TEXT NOT NULL, role TEXT,
                    action TEXT NOT NULL, target TEXT NOT NULL, status INTEGER NOT NULL, remote TEXT, node TEXT NOT NULL);
                CREATE INDEX IF NOT EXISTS audit_time ON audit (time);
                """);
        }
        catch
        {
            _connection.Dispose();
            throw;
        }
    }

    public Task<AuditEntry> AppendAsync(AuditEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return Task.Run(() =>
        {
            lock (_lock)
            {
                using var command = _connection.CreateCommand();
                command.CommandText = """
                    INSERT INTO audit (time, actor, role, action, target, status, remote, node)
                    VALUES ($time, $actor, $role, $action, $target, $status, $remote, $node) RETURNING seq;
                    """;
                command.Parameters.AddWithValue("$time", entry.Time.ToUnixTimeMilliseconds());
                command.Parameters.AddWithValue("$actor", entry.Actor);
                command.Parameters.AddWithValue("$role", (object?)entry.Role ?? DBNull.Value);
                command.Parameters.AddWithValue("$action", entry.Action);
                command.Parameters.AddWithValue("$target", entry.Target);
                command.Parameters.AddWithValue("$status", entry.Status);
                command.Parameters.AddWithValue("$remote", (object?)entry.RemoteAddress ?? DBNull.Value);
                command.Parameters.AddWithValue("$node", entry.Node);
                return entry with { Sequence = Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture) };
            }
        }, cancellationToken);
    }

    public Task<IReadOnlyList<AuditEntry>> QueryAsync(AuditQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        return Task.Run(() =>
        {
            var sql = new StringBuilder("SELECT seq, time, actor, role, action, target, status, remote, node FROM audit WHERE 1=1");
            lock (_lock)
            {
                using var command = _connection.CreateCommand();
                if (query.Since is { } since)
                {
                    sql.Append(" AND time >= $since");
                    command.Parameters.AddWithValue("$since", since.ToUnixTimeMilliseconds());
                }

                if (query.Until is { } until)
                {
                    sql.Append(" AND time < $until");
                    command.Parameters.AddWithValue("$until", until.ToUnixTimeMilliseconds());
                }

                if (query.Actor is { } actor)
                {
                    sql.Append(" AND actor = $actor");
                    command.Parameters.AddWithValue("$actor", actor);
                }

                if (query.ActionContains is { } action)
                {
                    sql.Append(" AND instr(action, $action) > 0");
                    command.Parameters.AddWithValue("$action", action);
                }

                if (query.BeforeSequence is { } before)
                {
                    sql.Append(" AND seq < $before");
                    command.Parameters.AddWithValue("$before", before);
                }

                sql.Append(" ORDER BY seq DESC LIMIT $limit");
                command.Parameters.AddWithValue("$limit", Math.Clamp(query.Limit, 1, 1000));
                command.CommandText = sql.ToString();
                using var reader = command.ExecuteReader();
                var entries = new List<AuditEntry>();
                while (reader.Read())
                {
                    entries.Add(new AuditEntry(reader.GetInt64(0), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)), reader.GetString(2),
                        reader.IsDBNull(3) ? null : reader.GetString(3), reader.GetString(4), reader.GetString(5), reader.GetInt32(6),
                        reader.IsDBNull(7) ? null : reader.GetString(7), reader.GetString(8)));
                }

                return (IReadOnlyList<AuditEntry>)entries;
            }
        }, cancellationToken);
    }

    public Task<long> TrimAsync(DateTimeOffset before, long maxEntries, CancellationToken cancellationToken = default) => Task.Run(() =>
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = """
                DELETE FROM audit WHERE time < $before;
                DELETE FROM audit WHERE seq <= (SELECT seq FROM audit ORDER BY seq DESC LIMIT 1 OFFSET $max);
                """;
            command.Parameters.AddWithValue("$before", before.ToUnixTimeMilliseconds());
            command.Parameters.AddWithValue("$max", maxEntries);
            return (long)command.ExecuteNonQuery();
        }
    }, cancellationToken);

    public void Dispose() => _connection.Dispose();

    private void Execute(string sql)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
