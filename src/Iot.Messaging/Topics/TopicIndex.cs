using System.Diagnostics.CodeAnalysis;

namespace Iot.Messaging.Topics;

/// <summary>
/// An index of exact MQTT topic names to one value each, used for retained messages: a SUBSCRIBE's topic
/// filter (possibly with <c>+</c> and <c>#</c>) finds every stored topic it matches.
/// </summary>
/// <remarks>
/// <para>
/// The index is a tree with one node per topic level, so <see cref="Match"/> only visits the branches the
/// filter can reach: literal levels are looked up, <c>+</c> enumerates the children of one node, and only
/// <c>#</c> enumerates a whole subtree. Lookups are by span and the walk uses an explicit per-thread stack
/// whose depth is the depth of the tree, so neither <see cref="TryGet"/> nor <see cref="Match"/> allocates in
/// steady state, and deep topics cannot overflow the thread's stack.
/// </para>
/// <para>
/// Thread safety: like <see cref="TopicTree{T}"/>, writers (<see cref="Set"/>, <see cref="Remove"/>) serialise
/// on one lock while readers (<see cref="TryGet"/>, <see cref="Match"/>) take no lock and never wait. A value
/// is replaced with one volatile write, a new branch is built detached and linked with one write, and child
/// maps publish immutable entries, so each change becomes visible at one instant and topics not being changed
/// are always found. Pruning only unlinks nodes that are already empty.
/// </para>
/// </remarks>
/// <typeparam name="T">The value type, for example a retained message.</typeparam>
public sealed class TopicIndex<T>
    where T : class
{
    private readonly Lock _writeLock = new();
    private readonly Node _root = new(null, string.Empty);
    private int _count;

    /// <summary>Gets the number of topics in the index.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Stores <paramref name="value"/> under <paramref name="topic"/>, replacing any previous value.</summary>
    /// <param name="topic">A valid topic name (see <see cref="TopicNames.IsValidTopicName"/>).</param>
    /// <param name="value">The value.</param>
    /// <exception cref="ArgumentException"><paramref name="topic"/> is not a valid topic name.</exception>
    public void Set(string topic, T value)
    {
        ArgumentNullException.ThrowIfNull(topic);
        ArgumentNullException.ThrowIfNull(value);
        if (!TopicNames.IsValidTopicName(topic))
        {
            throw new ArgumentException("The value is not a valid MQTT topic name.", nameof(topic));
        }

        string[] levels = topic.Split('/');
        lock (_writeLock)
        {
            var node = _root;
            Node? detached = null;
            foreach (string level in levels)
            {
                var child = detached is null ? node.GetChild(level) : null;
                if (child is null)
                {
                    child = new Node(node, level);
                    if (detached is null)
                    {
                        detached = child;
                    }
                    else
                    {
                        node.Attach(child);
                    }
                }

                node = child;
            }

            bool isNew = node.Value is null;
            node.Value = value;

            // A new branch becomes visible to readers here, complete with its value.
            detached?.Parent!.Attach(detached);
            if (isNew)
            {
                Volatile.Write(ref _count, _count + 1);
            }
        }
    }

    /// <summary>Removes the value stored under <paramref name="topic"/> and prunes empty nodes.</summary>
    /// <param name="topic">The topic name.</param>
    /// <returns><see langword="false"/> when no value is stored under <paramref name="topic"/>.</returns>
    public bool Remove(string topic)
    {
        ArgumentNullException.ThrowIfNull(topic);
        lock (_writeLock)
        {
            var node = Find(topic);
            if (node?.Value is null)
            {
                return false;
            }

            node.Value = null;
            Volatile.Write(ref _count, _count - 1);
            while (node.Parent is { } parent && node.IsEmpty)
            {
                parent.Detach(node);
                node = parent;
            }

            return true;
        }
    }

    /// <summary>Gets the value stored under exactly <paramref name="topic"/>. Does not allocate.</summary>
    /// <param name="topic">The topic name; wildcards are not interpreted.</param>
    /// <param name="value">The value, when found.</param>
    /// <returns><see langword="true"/> when a value is stored under <paramref name="topic"/>.</returns>
    public bool TryGet(string topic, [MaybeNullWhen(false)] out T value)
    {
        ArgumentNullException.ThrowIfNull(topic);
        value = Find(topic)?.Value;
        return value is not null;
    }

    /// <summary>
    /// Appends to <paramref name="results"/> the value of every stored topic that <paramref name="filter"/>
    /// matches (§4.7, including the rule that a first-level wildcard does not match topics starting with
    /// <c>$</c>). Does not allocate beyond growing <paramref name="results"/>.
    /// </summary>
    /// <param name="filter">A valid topic filter (see <see cref="TopicNames.IsValidTopicFilter"/>).</param>
    /// <param name="results">The list to append to; not cleared.</param>
    /// <exception cref="ArgumentException"><paramref name="filter"/> is not a valid topic filter.</exception>
    public void Match(string filter, List<T> results)
    {
        ArgumentNullException.ThrowIfNull(filter);
        ArgumentNullException.ThrowIfNull(results);
        if (!TopicNames.IsValidTopicFilter(filter))
        {
            throw new ArgumentException("The value is not a valid MQTT topic filter.", nameof(filter));
        }

        var stack = FrameStack<Frame>.Rent();
        int count = 0;
        Visit(_root, 0, filter, results, ref stack, ref count);
        while (count > 0)
        {
            ref var top = ref stack[count - 1];
            if (!top.Children.MoveNext())
            {
                stack[--count] = default;
                continue;
            }

            var child = top.Children.Current;
            if (top.SkipDollar && child.Key.StartsWith('$'))
            {
                continue;
            }

            if (top.CollectAll)
            {
                if (child.Value is { } value)
                {
                    results.Add(value);
                }

                if (child.Children is { } grandchildren)
                {
                    Push(new Frame(grandchildren.GetEnumerator(), 0, collectAll: true, skipDollar: false), ref stack, ref count);
                }
            }
            else
            {
                // Visit may grow the stack, so 'top' is not used after it.
                Visit(child, top.Next, filter, results, ref stack, ref count);
            }
        }

        FrameStack<Frame>.Return(stack);
    }

    /// <summary>
    /// Continues the match at <paramref name="node"/>, whose path matched the filter levels before
    /// <paramref name="start"/>: follows literal levels, and pushes a frame at the first wildcard.
    /// </summary>
    private static void Visit(Node node, int start, string filter, List<T> results, ref Frame[] stack, ref int count)
    {
        while (true)
        {
            if (start > filter.Length)
            {
                if (node.Value is { } value)
                {
                    results.Add(value);
                }

                return;
            }

            int slash = filter.AsSpan(start).IndexOf('/');
            int end = slash < 0 ? filter.Length : start + slash;
            var level = filter.AsSpan(start, end - start);

            // §4.7.2: wildcards in the first level do not match topic names starting with '$'.
            bool skipDollar = start == 0;
            if (level is "#")
            {
                // "sport/#" also matches "sport" (§4.7.1.2); the root itself never holds a value.
                if (node.Value is { } value)
                {
                    results.Add(value);
                }

                if (node.Children is { } children)
                {
                    Push(new Frame(children.GetEnumerator(), 0, collectAll: true, skipDollar), ref stack, ref count);
                }

                return;
            }

            if (level is "+")
            {
                if (node.Children is { } children)
                {
                    Push(new Frame(children.GetEnumerator(), end + 1, collectAll: false, skipDollar), ref stack, ref count);
                }

                return;
            }

            if (node.Children is not { } literalChildren || !literalChildren.TryGetValue(level, out var child))
            {
                return;
            }

            node = child;
            start = end + 1;
        }
    }

    private static void Push(Frame frame, ref Frame[] stack, ref int count)
    {
        if (count == stack.Length)
        {
            FrameStack<Frame>.Grow(ref stack);
        }

        stack[count++] = frame;
    }

    private Node? Find(string topic)
    {
        if (topic.Length == 0)
        {
            return null;
        }

        var node = _root;
        var rest = topic.AsSpan();
        while (true)
        {
            int slash = rest.IndexOf('/');
            var level = slash < 0 ? rest : rest[..slash];
            if (node.Children is not { } children || !children.TryGetValue(level, out var child))
            {
                return null;
            }

            if (slash < 0)
            {
                return child;
            }

            node = child;
            rest = rest[(slash + 1)..];
        }
    }

    /// <summary>
    /// Counts the nodes below the root; for tests of pruning.
    /// </summary>
    internal int CountNodes()
    {
        lock (_writeLock)
        {
            int nodes = 0;
            var pending = new Stack<Node>();
            pending.Push(_root);
            while (pending.TryPop(out var node))
            {
                if (node.Children is { } children)
                {
                    foreach (var child in children)
                    {
                        pending.Push(child);
                        nodes++;
                    }
                }
            }

            return nodes;
        }
    }

    /// <summary>
    /// A node whose children are being enumerated: with <see cref="CollectAll"/> every descendant matches
    /// (<c>#</c>), otherwise each child matched a <c>+</c> and the filter goes on at <see cref="Next"/>.
    /// </summary>
    private struct Frame(LevelMap<Node>.Enumerator children, int next, bool collectAll, bool skipDollar)
    {
        public LevelMap<Node>.Enumerator Children = children;

        public readonly int Next = next;

        public readonly bool CollectAll = collectAll;

        public readonly bool SkipDollar = skipDollar;
    }

    /// <summary>One topic level. Fields read by readers are volatile and only replaced whole.</summary>
    private sealed class Node(Node? parent, string key)
    {
        public volatile LevelMap<Node>? Children;
        public volatile T? Value;

        public Node? Parent { get; } = parent;

        public string Key { get; } = key;

        public bool IsEmpty => Value is null && Children is null;

        public Node? GetChild(string level) =>
            Children is { } children && children.TryGetValue(level, out var child) ? child : null;

        /// <summary>Links a complete child; writers only.</summary>
        public void Attach(Node child)
        {
            // A new map is published only once it holds the child.
            var children = Children ?? new LevelMap<Node>();
            children.Add(child.Key, child);
            Children = children;
        }

        /// <summary>Unlinks an empty child; writers only.</summary>
        public void Detach(Node child)
        {
            var children = Children!;
            children.Remove(child.Key);
            if (children.Count == 0)
            {
                Children = null;
            }
        }
    }
}
