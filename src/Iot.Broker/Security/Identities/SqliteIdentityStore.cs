using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Iot.Broker.Security.Identities;

/// <summary>
/// The identity registry's durable copy: <c>identities.db</c> (SQLite, WAL, <c>synchronous=FULL</c>). Identity
/// changes are rare administrative writes, so each one is its own committed statement, serialised by a lock. It has one
/// writer (this process), so it keeps no revisions: every revision it returns is 0 and expected revisions are not checked.
/// </summary>
internal sealed class SqliteIdentityStore : IIdentityStore
{
    /// <summary>The file name inside the data directory.</summary>
    public const string FileName = "identities.db";

    /// <summary>The schema version kept in <c>PRAGMA user_version</c>.</summary>
    public const int SchemaVersion = 1;

    private readonly SqliteConnection _connection;
    private readonly Lock _gate = new();
    private bool _disposed;

    /// <summary>Opens (or creates) <c>identities.db</c> in <paramref name="directory"/>, creating the directory too.</summary>
    /// <exception cref="NotSupportedException">The database has a newer schema than this broker knows, or refuses WAL.</exception>
    public SqliteIdentityStore(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        Directory.CreateDirectory(directory);
        Path = System.IO.Path.GetFullPath(System.IO.Path.Combine(directory, FileName));
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = Path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        };
        _connection = new SqliteConnection(builder.ToString());
        try
        {
            _connection.Open();
            Execute("PRAGMA synchronous=FULL;");
            var mode = Convert.ToString(Scalar("PRAGMA journal_mode=WAL;"), CultureInfo.InvariantCulture);
            if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            {
                throw new NotSupportedException($"SQLite refused WAL mode for '{Path}' (journal mode is '{mode}').");
            }

            Migrate();
        }
        catch
        {
            _connection.Dispose();
            throw;
        }
    }

    /// <summary>The full path of the database file.</summary>
    public string Path { get; }

    /// <inheritdoc />
    public string Location => Path;

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<Identity>> LoadAllAsync(ICollection<(string Id, string Reason)>? skipped, CancellationToken cancellationToken) =>
        ValueTask.FromResult(LoadAll(skipped));

    /// <inheritdoc />
    public ValueTask<Identity?> LoadAsync(string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        return ValueTask.FromResult(LoadAll().FirstOrDefault(identity => string.Equals(identity.Id, id, StringComparison.Ordinal)));
    }

    /// <inheritdoc />
    public ValueTask<long> UpsertAsync(Identity identity, long expectedRevision, CancellationToken cancellationToken)
    {
        Upsert(identity);
        return ValueTask.FromResult(0L);
    }

    /// <inheritdoc />
    public ValueTask<bool> DeleteAsync(string id, long expectedRevision, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Delete(id));

    /// <summary>Every stored identity that can be read.</summary>
    /// <param name="skipped">
    /// Receives the id of each row that cannot be read (an unknown role, a value of the wrong type) and why: that
    /// identity cannot log in until it is rotated or created again, and every other identity still loads.
    /// </param>
    public IReadOnlyList<Identity> LoadAll(ICollection<(string Id, string Reason)>? skipped = null)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var command = _connection.CreateCommand();
            command.CommandText = """
                SELECT id, role, enabled, created_at, updated_at, password_salt, password_hash, password_iterations, api_key_hash
                FROM identities ORDER BY id;
                """;
            using var reader = command.ExecuteReader();
            var identities = new List<Identity>();
            while (reader.Read())
            {
                var id = reader.IsDBNull(0) ? "(null)" : Convert.ToString(reader.GetValue(0), CultureInfo.InvariantCulture) ?? "(null)";
                try
                {
                    identities.Add(Read(reader));
                }
                catch (Exception ex) when (ex is InvalidDataException or InvalidCastException or FormatException or OverflowException or ArgumentException)
                {
                    skipped?.Add((id, ex.Message));
                }
            }

            return identities;
        }
    }

    private static Identity Read(SqliteDataReader reader)
    {
        var roleName = reader.GetString(1);
        if (!IdentityIds.TryParseRole(roleName, out var role))
        {
            throw new InvalidDataException($"unknown role '{roleName}'");
        }

        PasswordHash? password = reader.IsDBNull(6)
            ? null
            : new PasswordHash((byte[])reader.GetValue(5), (byte[])reader.GetValue(6), reader.GetInt32(7));
        return new Identity(
            reader.GetString(0),
            role,
            reader.GetInt64(2) != 0,
            DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3)),
            DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4)),
            password,
            reader.IsDBNull(8) ? null : (byte[])reader.GetValue(8));
    }

    /// <summary>Inserts or replaces <paramref name="identity"/>; durable when this returns.</summary>
    public void Upsert(Identity identity)
    {
        ArgumentNullException.ThrowIfNull(identity);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var command = _connection.CreateCommand();
            command.CommandText = """
                INSERT INTO identities (id, role, enabled, created_at, updated_at, password_salt, password_hash, password_iterations, api_key_hash)
                VALUES ($id, $role, $enabled, $created, $updated, $salt, $hash, $iterations, $apiKey)
                ON CONFLICT(id) DO UPDATE SET
                    role = excluded.role, enabled = excluded.enabled, updated_at = excluded.updated_at,
                    password_salt = excluded.password_salt, password_hash = excluded.password_hash,
                    password_iterations = excluded.password_iterations, api_key_hash = excluded.api_key_hash;
                """;
            command.Parameters.AddWithValue("$id", identity.Id);
            command.Parameters.AddWithValue("$role", IdentityIds.RoleName(identity.Role));
            command.Parameters.AddWithValue("$enabled", identity.Enabled ? 1 : 0);
            command.Parameters.AddWithValue("$created", identity.CreatedAt.ToUnixTimeMilliseconds());
            command.Parameters.AddWithValue("$updated", identity.UpdatedAt.ToUnixTimeMilliseconds());
            command.Parameters.AddWithValue("$salt", (object?)identity.Password?.Salt ?? DBNull.Value);
            command.Parameters.AddWithValue("$hash", (object?)identity.Password?.Hash ?? DBNull.Value);
            command.Parameters.AddWithValue("$iterations", (object?)identity.Password?.Iterations ?? DBNull.Value);
            command.Parameters.AddWithValue("$apiKey", (object?)identity.ApiKeyHash ?? DBNull.Value);
            command.ExecuteNonQuery();
        }
    }

    /// <summary>Deletes the identity; false when there was none.</summary>
    public bool Delete(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var command = _connection.CreateCommand();
            command.CommandText = "DELETE FROM identities WHERE id = $id;";
            command.Parameters.AddWithValue("$id", id);
            return command.ExecuteNonQuery() > 0;
        }
    }

    /// <summary>Closes the database.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (!_disposed)
            {
                _disposed = true;
                _connection.Dispose();
            }
        }
    }

    private void Migrate()
    {
        var version = Convert.ToInt32(Scalar("PRAGMA user_version;"), CultureInfo.InvariantCulture);
        if (version == SchemaVersion)
        {
            return;
        }

        if (version > SchemaVersion)
        {
            throw new NotSupportedException($"'{Path}' has identity schema version {version}; this broker supports up to {SchemaVersion}.");
        }

        using var transaction = _connection.BeginTransaction();
        using var command = _connection.CreateCommand();
        command.Transaction = transaction;

        // Ids compare byte-wise (BINARY), as MQTT usernames and client ids do. The unique partial index both finds
        // an identity by its API key hash and refuses two identities with one key.
        command.CommandText = """
            CREATE TABLE IF NOT EXISTS identities (
                id                  TEXT    NOT NULL PRIMARY KEY,
                role                TEXT    NOT NULL,
                enabled             INTEGER NOT NULL,
                created_at          INTEGER NOT NULL,
                updated_at          INTEGER NOT NULL,
                password_salt       BLOB    NULL,
                password_hash       BLOB    NULL,
                password_iterations INTEGER NULL,
                api_key_hash        BLOB    NULL
            ) WITHOUT ROWID;
            CREATE UNIQUE INDEX IF NOT EXISTS identities_api_key ON identities (api_key_hash) WHERE api_key_hash IS NOT NULL;
            PRAGMA user_version = 1;
            """;
        command.ExecuteNonQuery();
        transaction.Commit();
    }

    private void Execute(string sql)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private object? Scalar(string sql)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }
}
