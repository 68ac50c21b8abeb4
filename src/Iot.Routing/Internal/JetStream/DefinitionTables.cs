using System.Collections.Concurrent;

namespace Iot.Routing.Internal.JetStream;

/// <summary>
/// This node's copy of the routing definitions (a table per kind, rows by name) as loaded at open and changed by this
/// node's writes, and the newest revision of each definition key this node wrote itself, against which the changes the
/// watch brings are judged. Owns its maps; every member takes <see cref="_gate"/> (a leaf lock) or none, never across I/O.
/// </summary>
internal sealed class DefinitionTables
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, SortedDictionary<string, string>> _tables = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ulong> _written = new(StringComparer.Ordinal);

    public DefinitionTables(IEnumerable<string> tables)
    {
        foreach (var table in tables)
        {
            _tables[table] = new(StringComparer.Ordinal);
        }
    }

    /// <summary>The rows of <paramref name="table"/>, in name order.</summary>
    public IReadOnlyList<(string Name, string Definition)> Read(string table)
    {
        lock (_gate)
        {
            return [.. _tables[table].Select(d => (d.Key, d.Value))];
        }
    }

    /// <summary>Records this node's write of <paramref name="key"/> at <paramref name="revision"/> (a put or a delete).</summary>
    public void Wrote(string key, ulong revision) => _written.AddOrUpdate(key, revision, (_, held) => Math.Max(held, revision));

    /// <summary>Whether this node wrote <paramref name="key"/> at <paramref name="revision"/> or later.</summary>
    public bool WroteSince(string key, ulong revision) => _written.TryGetValue(key, out var written) && written >= revision;

    public void Set(string table, string name, string definition)
    {
        lock (_gate)
        {
            _tables[table][name] = definition;
        }
    }

    public void Remove(string table, string name)
    {
        lock (_gate)
        {
            _tables[table].Remove(name);
        }
    }

    /// <summary>Replaces the tables with what was loaded from the bucket.</summary>
    public void Replace(IReadOnlyDictionary<string, SortedDictionary<string, string>> loaded)
    {
        lock (_gate)
        {
            foreach (var (table, rows) in loaded)
            {
                _tables[table] = rows;
            }
        }
    }
}
