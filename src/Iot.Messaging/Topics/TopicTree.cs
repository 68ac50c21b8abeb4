namespace Iot.Messaging.Topics;

/// <summary>
/// An index of MQTT topic filters (with <c>+</c> and <c>#</c> wildcards) to values, used to find the
/// subscriptions that match the topic name of every published message.
/// </summary>
/// <remarks>
/// <para>
/// The tree has one node per filter level; a <c>+</c> level is a dedicated child and a trailing <c>#</c> is a
/// value list on the node of its parent level, so <see cref="Match"/> looks up at most three things per topic
/// level: the literal child, the <c>+</c> child and the <c>#</c> values. It walks the topic as spans, looks
/// children up by span and keeps its explicit stack in a per-thread array: no allocation in steady state and
/// no recursion, whatever the depth of the topic.
/// </para>
/// <para>
/// Thread safety: any number of threads may call <see cref="Match"/> concurrently with <see cref="Add"/> and
/// <see cref="Remove"/>. Writers serialise on one lock; readers take no lock and never wait. Readers only see
/// immutable or atomically published state: value arrays are copy-on-write and swapped whole, child maps
/// publish immutable chain entries, and a new branch is built detached and then linked into the tree with a
/// single write. Each <see cref="Add"/> or <see cref="Remove"/> therefore becomes visible to a concurrent
/// <see cref="Match"/> at one instant, all or nothing, and filters not being changed are always matched.
/// Pruning only unlinks nodes that are already empty. The price is on the writer side: adding or removing a
/// value copies the array of values under the same filter, O(n) in that number.
/// </para>
/// </remarks>
/// <typeparam name="T">The value type, for example a subscription; compared by reference.</typeparam>
public sealed class TopicTree<T>
    where T : class
{
    private const string SingleLevel = "+";
    private const string MultiLevel = "#";

    private readonly Lock _writeLock = new();
    private readonly Node _root = new(null, string.Empty);
    private int _count;

    /// <summary>Gets the number of (filter, value) pairs in the tree.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Adds <paramref name="value"/> under <paramref name="filter"/>.</summary>
    /// <param name="filter">A valid topic filter (see <see cref="TopicNames.IsValidTopicFilter"/>).</param>
    /// <param name="value">The value; compared by reference.</param>
    /// <returns><see langword="false"/> when this very value is already under this filter.</returns>
    /// <exception cref="ArgumentException"><paramref name="filter"/> is not a valid topic filter.</exception>
    public bool Add(string filter, T value)
    {
        ArgumentNullException.ThrowIfNull(filter);
        ArgumentNullException.ThrowIfNull(value);
        if (!TopicNames.IsValidTopicFilter(filter))
        {
            throw new ArgumentException("The value is not a valid MQTT topic filter.", nameof(filter));
        }

        string[] levels = filter.Split('/');
        bool isMultiLevel = levels[^1] == MultiLevel;
        int depth = isMultiLevel ? levels.Length - 1 : levels.Length;

        lock (_writeLock)
        {
            var node = _root;
            Node? detached = null;
            for (int i = 0; i < depth; i++)
            {
                var child = detached is null ? node.GetChild(levels[i]) : null;
                if (child is null)
                {
                    child = new Node(node, levels[i]);
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

            var values = isMultiLevel ? node.MultiLevelValues : node.Values;
            if (IndexOfReference(values, value) >= 0)
            {
                return false;
            }

            T[] updated = [.. values, value];
            if (isMultiLevel)
            {
                node.MultiLevelValues = updated;
            }
            else
            {
                node.Values = updated;
            }

            // A new branch becomes visible to readers here, complete with its value.
            detached?.Parent!.Attach(detached);
            Volatile.Write(ref _count, _count + 1);
            return true;
        }
    }

    /// <summary>Removes <paramref name="value"/> from under <paramref name="filter"/> and prunes empty nodes.</summary>
    /// <param name="filter">The topic filter the value was added under.</param>
    /// <param name="value">The value; compared by reference.</param>
    /// <returns><see langword="false"/> when this value is not under this filter (or the filter is invalid).</returns>
    public bool Remove(string filter, T value)
    {
        ArgumentNullException.ThrowIfNull(filter);
        ArgumentNullException.ThrowIfNull(value);
        if (!TopicNames.IsValidTopicFilter(filter))
        {
            return false;
        }

        string[] levels = filter.Split('/');
        bool isMultiLevel = levels[^1] == MultiLevel;
        int depth = isMultiLevel ? levels.Length - 1 : levels.Length;

        lock (_writeLock)
        {
            var node = _root;
            for (int i = 0; i < depth; i++)
            {
                var child = node.GetChild(levels[i]);
                if (child is null)
                {
                    return false;
                }

                node = child;
            }

            var values = isMultiLevel ? node.MultiLevelValues : node.Values;
            int index = IndexOfReference(values, value);
            if (index < 0)
            {
                return false;
            }

            T[] updated = values.Length == 1 ? [] : [.. values.AsSpan(0, index), .. values.AsSpan(index + 1)];
            if (isMultiLevel)
            {
                node.MultiLevelValues = updated;
            }
            else
            {
                node.Values = updated;
            }

            Volatile.Write(ref _count, _count - 1);
            while (node.Parent is { } parent && node.IsEmpty)
            {
                parent.Detach(node);
                node = parent;
            }

            return true;
        }
    }

    /// <summary>
    /// Appends to <paramref name="results"/> every value whose filter matches <paramref name="topic"/>; a value
    /// under several matching filters is appended once per filter. Does not allocate beyond growing
    /// <paramref name="results"/>.
    /// </summary>
    /// <remarks>
    /// <paramref name="topic"/> is not validated here, on the hot path: the caller validates a topic name once,
    /// when the PUBLISH arrives (<see cref="TopicNames.IsValidTopicName"/>). An empty topic matches nothing.
    /// </remarks>
    /// <param name="topic">The topic name of a published message.</param>
    /// <param name="results">The list to append to; not cleared.</param>
    public void Match(string topic, List<T> results)
    {
        ArgumentNullException.ThrowIfNull(topic);
        ArgumentNullException.ThrowIfNull(results);
        if (topic.Length == 0)
        {
            return;
        }

        // §4.7.2: wildcards in the first level do not match topic names starting with '$'.
        bool isDollarTopic = topic[0] == '$';
        var stack = FrameStack<Frame>.Rent();
        int count = 0;
        stack[count++] = new Frame(_root, 0);
        while (count > 0)
        {
            var frame = stack[--count];
            stack[count] = default;

            var node = frame.Node;
            int start = frame.Start;
            int slash = topic.AsSpan(start).IndexOf('/');
            bool isLastLevel = slash < 0;
            int end = isLastLevel ? topic.Length : start + slash;

            if (start != 0 || !isDollarTopic)
            {
                AppendAll(results, node.MultiLevelValues);
                if (node.Plus is { } plus)
                {
                    Step(plus, isLastLevel, end, results, ref stack, ref count);
                }
            }

            if (node.Children is { } children && children.TryGetValue(topic.AsSpan(start, end - start), out var child))
            {
                Step(child, isLastLevel, end, results, ref stack, ref count);
            }
        }

        FrameStack<Frame>.Return(stack);
    }

    /// <summary>Counts the nodes below the root; for tests of pruning.</summary>
    internal int CountNodes()
    {
        lock (_writeLock)
        {
            int nodes = 0;
            var pending = new Stack<Node>();
            pending.Push(_root);
            while (pending.TryPop(out var node))
            {
                if (node.Plus is { } plus)
                {
                    pending.Push(plus);
                }

                if (node.Children is { } children)
                {
                    foreach (var child in children)
                    {
                        pending.Push(child);
                    }
                }

                nodes += node == _root ? 0 : 1;
            }

            return nodes;
        }
    }

    /// <summary>Handles a child that matched the current topic level.</summary>
    private static void Step(Node child, bool isLastLevel, int end, List<T> results, ref Frame[] stack, ref int count)
    {
        if (isLastLevel)
        {
            AppendAll(results, child.Values);

            // "sport/#" also matches "sport" (§4.7.1.2).
            AppendAll(results, child.MultiLevelValues);
            return;
        }

        if (count == stack.Length)
        {
            FrameStack<Frame>.Grow(ref stack);
        }

        stack[count++] = new Frame(child, end + 1);
    }

    private static void AppendAll(List<T> results, T[] values)
    {
        if (values.Length != 0)
        {
            results.AddRange(new ReadOnlySpan<T>(values));
        }
    }

    private static int IndexOfReference(T[] values, T value)
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (ReferenceEquals(values[i], value))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>A node still to visit, and where in the topic its next level starts.</summary>
    private readonly struct Frame(Node node, int start)
    {
        public Node Node { get; } = node;

        public int Start { get; } = start;
    }

    /// <summary>One filter level. Fields read by <see cref="Match"/> are volatile and only replaced whole.</summary>
    private sealed class Node(Node? parent, string key)
    {
        public volatile LevelMap<Node>? Children;
        public volatile Node? Plus;
        public volatile T[] Values = [];
        public volatile T[] MultiLevelValues = [];

        public Node? Parent { get; } = parent;

        public string Key { get; } = key;

        public bool IsEmpty =>
            Values.Length == 0 && MultiLevelValues.Length == 0 && Plus is null && Children is null;

        public Node? GetChild(string level)
        {
            if (level == SingleLevel)
            {
                return Plus;
            }

            return Children is { } children && children.TryGetValue(level, out var child) ? child : null;
        }

        /// <summary>Links a complete child; writers only.</summary>
        public void Attach(Node child)
        {
            if (child.Key == SingleLevel)
            {
                Plus = child;
                return;
            }

            // A new map is published only once it holds the child.
            var children = Children ?? new LevelMap<Node>();
            children.Add(child.Key, child);
            Children = children;
        }

        /// <summary>Unlinks an empty child; writers only.</summary>
        public void Detach(Node child)
        {
            if (child.Key == SingleLevel)
            {
                Plus = null;
                return;
            }

            var children = Children!;
            children.Remove(child.Key);
            if (children.Count == 0)
            {
                Children = null;
            }
        }
    }
}
