using Microsoft.Data.Sqlite;

namespace Iot.Routing.Internal;

/// <summary>
/// State a store keeps in memory beside its tables, kept in step with the group commit of <see cref="SqliteGroupCommit"/>:
/// told before each batch, around each operation's savepoint and after the commit. Called on the loop only.
/// </summary>
internal interface IGroupCommitObserver
{
    /// <summary>Before the batch's transaction begins (e.g. recount what a failed batch left unknown).</summary>
    void BeforeBatch(SqliteConnection connection);

    /// <summary>Before an operation runs; the value comes back to <see cref="RolledBack"/> if it fails.</summary>
    int Mark();

    /// <summary>The operation that ran since <paramref name="mark"/> failed and its savepoint was rolled back.</summary>
    void RolledBack(int mark);

    /// <summary>The batch's transaction committed (<paramref name="committed"/> true) or was rolled back.</summary>
    void Completed(bool committed);
}
