using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;

namespace Iot.Routing.Internal;

/// <summary>
/// Prepared statements kept per connection and SQL text. Microsoft.Data.Sqlite compiles a command's SQL the first
/// time the command runs and keeps the compiled statement only in that command object, so a command made per
/// operation made SQLite parse and plan every statement every time (a profile of the command workload showed about a
/// third of the broker's CPU in SQLite, most of it in its parser). The stores here run every operation of a connection
/// on one thread (<see cref="SqliteGroupCommit"/>'s loop), so one command per statement can be reused.
/// </summary>
/// <remarks>
/// The returned command must not be disposed, and must not be asked for again while one of its readers is open.
/// The stores' SQL is constant text (values go in parameters), about 65 statements in all; should more ever come, at
/// most <see cref="MaxPerConnection"/> are kept and a full cache is emptied. The commands it held are not disposed
/// then, since a caller may still be running one: SQLite's statements are released when the connection closes or the
/// commands are collected.
/// </remarks>
internal static class SqliteStatements
{
    /// <summary>Statements kept per connection before the cache is emptied.</summary>
    public const int MaxPerConnection = 256;

    private static readonly ConditionalWeakTable<SqliteConnection, Dictionary<string, SqliteCommand>> s_byConnection = [];

    /// <summary>The command for <paramref name="sql"/> on <paramref name="connection"/>, without parameters.</summary>
    public static SqliteCommand Get(SqliteConnection connection, string sql)
    {
        var cache = s_byConnection.GetValue(connection, static _ => new Dictionary<string, SqliteCommand>(StringComparer.Ordinal));
        if (cache.TryGetValue(sql, out var command))
        {
            command.Parameters.Clear();
            return command;
        }

        if (cache.Count >= MaxPerConnection)
        {
            cache.Clear();
        }

        command = connection.CreateCommand();
        command.CommandText = sql;
        cache.Add(sql, command);
        return command;
    }

    /// <summary>How many statements <paramref name="connection"/> keeps (for tests).</summary>
    internal static int Count(SqliteConnection connection) =>
        s_byConnection.TryGetValue(connection, out var cache) ? cache.Count : 0;
}
