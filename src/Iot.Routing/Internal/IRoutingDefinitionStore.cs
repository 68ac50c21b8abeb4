namespace Iot.Routing.Internal;

/// <summary>
/// The durable definitions of the routing layer: routes (table <c>routes</c>) and event subscriptions (table
/// <c>subscriptions</c>), each a name and its JSON definition. Read once at start-up, written by the HTTP API; in
/// cluster mode the tables also follow what the other nodes write (<see cref="JetStream.RoutingDefinitionFollower"/>).
/// </summary>
/// <remarks>
/// A table name other than <c>routes</c> or <c>subscriptions</c> throws <see cref="ArgumentOutOfRangeException"/>.
/// A write's task completes when the change is durable.
/// </remarks>
internal interface IRoutingDefinitionStore
{
    /// <summary>Where the definitions are kept (a file path, or the address of a cluster's store), for logs.</summary>
    string Path { get; }

    /// <summary>
    /// Definitions that could not be read at start-up, as (table, name, reason): each costs only itself, and the
    /// routing start-up logs every one. The readers of the definitions add to it.
    /// </summary>
    System.Collections.Concurrent.ConcurrentQueue<(string Table, string Name, string Reason)> SkippedDefinitions { get; }

    /// <summary>All definitions of <paramref name="table"/>, ordered by name.</summary>
    IReadOnlyList<(string Name, string Definition)> ReadDefinitions(string table);

    /// <summary>Saves (creates or replaces) a definition; the number of rows written (1).</summary>
    Task<int> SaveDefinitionAsync(string table, string name, string definition);

    /// <summary>
    /// Deletes a definition; the number deleted (0 when there was none). Deleting a subscription deletes its pending
    /// deliveries and dead letters too (<see cref="IEventDeliveryStore"/>): in the same transaction (SQLite), or the
    /// definition first and then the deliveries, with what a crash in between leaves purged at the next start
    /// (JetStream, which has no transaction over keys).
    /// </summary>
    Task<int> DeleteDefinitionAsync(string table, string name);
}
