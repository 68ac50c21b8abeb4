using Microsoft.Data.Sqlite;

namespace Iot.Routing.Internal;

/// <summary>
/// The tables of one SQLite database as a list of migrations: step <c>i</c> takes the file from schema version
/// <c>i</c> to <c>i + 1</c>; the version a file is at is kept in <c>PRAGMA user_version</c>.
/// </summary>
/// <remarks>
/// A file written before versions were kept is at version 0, so the first step must accept a file that already holds
/// the tables (<c>CREATE ... IF NOT EXISTS</c>). Steps run once, in order, in one transaction with the version change.
/// </remarks>
/// <param name="Name">What the database is, for messages (e.g. "queue store").</param>
/// <param name="Migrations">The steps, oldest first; their count is the current version.</param>
internal sealed record SqliteSchema(string Name, IReadOnlyList<Action<SqliteConnection>> Migrations)
{
    /// <summary>The version this code writes.</summary>
    public int Version => Migrations.Count;

    /// <summary>A step that runs <paramref name="sql"/>.</summary>
    public static Action<SqliteConnection> Sql(string sql) => connection => SqliteDatabase.Execute(connection, sql);
}
