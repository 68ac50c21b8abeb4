using System.Diagnostics.CodeAnalysis;

namespace Iot.Messaging.Topics;

/// <summary>
/// Hash map from one topic level to a child node, looked up by <see cref="ReadOnlySpan{T}"/> of
/// <see cref="char"/> so that walking a topic never allocates a string.
/// </summary>
/// <remarks>
/// Readers (<see cref="TryGetValue"/>, <see cref="GetEnumerator"/>) are lock-free and may run at any time.
/// Writers (<see cref="Add"/>, <see cref="Remove"/>) must be serialised by the owner. Entries are immutable:
/// an insert publishes a new chain head, a removal publishes a rebuilt chain prefix, and a resize publishes a
/// new bucket array, so a reader always walks a chain that was complete at some instant. This is the
/// equivalent of a copy-on-write <see cref="Dictionary{TKey, TValue}"/> with an alternate span lookup,
/// without the O(n) copy per insert that would make nodes with 100 000 children (retained topics such as
/// <c>devices/{id}/state</c>) quadratic to build. Hashing uses the randomised
/// <see cref="string.GetHashCode(ReadOnlySpan{char})"/>, because topic levels come from clients.
/// </remarks>
/// <typeparam name="TNode">The child node type.</typeparam>
internal sealed class LevelMap<TNode>
    where TNode : class
{
    private const int MinCapacity = 2;

    private Entry?[] _buckets = new Entry?[MinCapacity];
    private int _count;

    /// <summary>Gets the number of children.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Looks up the child for one topic level. Safe to call concurrently with a writer.</summary>
    public bool TryGetValue(ReadOnlySpan<char> key, [MaybeNullWhen(false)] out TNode value)
    {
        var buckets = Volatile.Read(ref _buckets);
        int hash = string.GetHashCode(key);
        for (var entry = Volatile.Read(ref buckets[hash & (buckets.Length - 1)]); entry is not null; entry = entry.Next)
        {
            if (entry.Hash == hash && key.SequenceEqual(entry.Key))
            {
                value = entry.Value;
                return true;
            }
        }

        value = null;
        return false;
    }

    /// <summary>Adds a child whose key is not present yet. Writers only.</summary>
    public void Add(string key, TNode value)
    {
        if (_count >= _buckets.Length)
        {
            Resize(_buckets.Length * 2);
        }

        int hash = string.GetHashCode(key.AsSpan());
        var buckets = _buckets;
        ref var slot = ref buckets[hash & (buckets.Length - 1)];
        Volatile.Write(ref slot, new Entry(key, hash, value, slot));
        Volatile.Write(ref _count, _count + 1);
    }

    /// <summary>Removes a child. Writers only.</summary>
    public bool Remove(ReadOnlySpan<char> key)
    {
        var buckets = _buckets;
        int hash = string.GetHashCode(key);
        ref var slot = ref buckets[hash & (buckets.Length - 1)];
        var target = slot;
        while (target is not null && (target.Hash != hash || !key.SequenceEqual(target.Key)))
        {
            target = target.Next;
        }

        if (target is null)
        {
            return false;
        }

        // Readers may be walking the old chain, so its entries stay untouched: copy the prefix instead.
        var rebuilt = target.Next;
        for (var entry = slot; entry != target; entry = entry!.Next)
        {
            rebuilt = new Entry(entry!.Key, entry.Hash, entry.Value, rebuilt);
        }

        Volatile.Write(ref slot, rebuilt);
        Volatile.Write(ref _count, _count - 1);
        if (_buckets.Length > MinCapacity && _count < _buckets.Length / 4)
        {
            Resize(_buckets.Length / 2);
        }

        return true;
    }

    /// <summary>Enumerates the children without allocating; safe to call concurrently with a writer.</summary>
    /// <remarks>Every child present for the whole enumeration is returned exactly once.</remarks>
    public Enumerator GetEnumerator() => new(Volatile.Read(ref _buckets));

    private void Resize(int capacity)
    {
        var resized = new Entry?[capacity];
        foreach (var head in _buckets)
        {
            for (var entry = head; entry is not null; entry = entry.Next)
            {
                ref var slot = ref resized[entry.Hash & (capacity - 1)];
                slot = new Entry(entry.Key, entry.Hash, entry.Value, slot);
            }
        }

        Volatile.Write(ref _buckets, resized);
    }

    /// <summary>An immutable chain link.</summary>
    internal sealed class Entry(string key, int hash, TNode value, Entry? next)
    {
        public string Key { get; } = key;

        public int Hash { get; } = hash;

        public TNode Value { get; } = value;

        public Entry? Next { get; } = next;
    }

    /// <summary>Allocation-free enumerator over a snapshot of the bucket array.</summary>
    internal struct Enumerator
    {
        private readonly Entry?[] _buckets;
        private int _index;
        private Entry? _current;

        internal Enumerator(Entry?[] buckets)
        {
            _buckets = buckets;
            _index = -1;
            _current = null;
        }

        /// <summary>Gets the current child.</summary>
        public readonly TNode Current => _current!.Value;

        /// <summary>Advances to the next child.</summary>
        public bool MoveNext()
        {
            if (_current?.Next is { } next)
            {
                _current = next;
                return true;
            }

            while (++_index < _buckets.Length)
            {
                var head = Volatile.Read(ref _buckets[_index]);
                if (head is not null)
                {
                    _current = head;
                    return true;
                }
            }

            _current = null;
            return false;
        }
    }
}
