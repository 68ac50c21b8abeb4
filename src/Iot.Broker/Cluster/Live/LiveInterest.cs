using System.Threading.Channels;
using Iot.Broker.Mqtt;

namespace Iot.Broker.Cluster.Live;

/// <summary>
/// Which NATS subscriptions this node needs for its live traffic: a reference count per subject of its non-shared filters
/// (two filters that map to one subject, such as <c>a</c> and <c>a/#</c>, share it). Fed by <see cref="SubscriptionIndex"/>
/// (<see cref="ISubscriptionObserver"/>); <see cref="LiveReceiver"/> takes the changed subjects and brings NATS in line.
/// Also the current object of each shared group on this node, by share name and filter, for the messages another node
/// sends one of its members (shared groups need no NATS subscription of their own).
/// </summary>
/// <remarks>
/// Its lock is a leaf (taken under the index's lock, calls nothing). What it holds is bounded by the distinct filters of
/// the node, so the change sets need no bound; a change is signalled through a one-slot channel that never blocks.
/// </remarks>
internal sealed class LiveInterest(string prefix) : ISubscriptionObserver
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, int> _subjects = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Share, string Filter), SharedGroup> _groups = [];
    private readonly HashSet<string> _changedSubjects = new(StringComparer.Ordinal);
    private readonly Channel<bool> _signal = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private ulong _generation;

    /// <summary>
    /// The generations of changes <see cref="LiveReceiver"/> has brought NATS in line with (its subscriptions sent to the
    /// server): a SUBSCRIBE waits for the generation it made (<see cref="SubscriptionBarrier"/>).
    /// </summary>
    public ProgressMark Applied { get; } = new();

    /// <summary>The generation of the latest change: each change of a subject's count raises it.</summary>
    public ulong Generation
    {
        get
        {
            lock (_gate)
            {
                return _generation;
            }
        }
    }

    /// <summary>The subject prefix of live traffic (e.g. <c>iot.m</c>).</summary>
    public string Prefix { get; } = prefix;

    public void FilterAdded(string topicFilter)
    {
        var subjects = TopicSubjects.FilterSubjects(Prefix, topicFilter);
        lock (_gate)
        {
            _generation++;
            foreach (var subject in subjects)
            {
                _subjects.TryGetValue(subject, out var count);
                _subjects[subject] = count + 1;
                if (count == 0)
                {
                    _changedSubjects.Add(subject);
                }
            }
        }

        _signal.Writer.TryWrite(true);
    }

    public void FilterRemoved(string topicFilter)
    {
        var subjects = TopicSubjects.FilterSubjects(Prefix, topicFilter);
        lock (_gate)
        {
            _generation++;
            foreach (var subject in subjects)
            {
                if (!_subjects.TryGetValue(subject, out var count))
                {
                    continue;
                }

                if (count <= 1)
                {
                    _subjects.Remove(subject);
                    _changedSubjects.Add(subject);
                }
                else
                {
                    _subjects[subject] = count - 1;
                }
            }
        }

        _signal.Writer.TryWrite(true);
    }

    public void GroupAdded(SharedGroup group)
    {
        lock (_gate)
        {
            _groups[(group.ShareName, group.TopicFilter)] = group;
        }
    }

    public void GroupRemoved(SharedGroup group)
    {
        lock (_gate)
        {
            var key = (group.ShareName, group.TopicFilter);
            if (_groups.TryGetValue(key, out var current) && ReferenceEquals(current, group))
            {
                _groups.Remove(key);
            }
        }
    }

    /// <summary>The shared group <c>$share/{share}/{filter}</c> on this node; null when it has no member here.</summary>
    public SharedGroup? GroupOf(string share, string filter)
    {
        lock (_gate)
        {
            return _groups.GetValueOrDefault((share, filter));
        }
    }

    /// <summary>Waits until something changed since the last <see cref="TakeChanges"/>.</summary>
    public ValueTask<bool> WaitForChangesAsync(CancellationToken cancellationToken) => _signal.Reader.WaitToReadAsync(cancellationToken);

    /// <summary>Moves the changed subjects, with whether each is wanted now, into <paramref name="subjects"/>.</summary>
    /// <returns>The generation the changes taken reach: once they are applied, so is every change up to it.</returns>
    public ulong TakeChanges(List<(string Subject, bool Wanted)> subjects)
    {
        _signal.Reader.TryRead(out _);
        lock (_gate)
        {
            foreach (var subject in _changedSubjects)
            {
                subjects.Add((subject, _subjects.ContainsKey(subject)));
            }

            _changedSubjects.Clear();
            return _generation;
        }
    }

    /// <summary>Marks a subject again (a NATS call for it failed: the receiver retries it).</summary>
    public void Retry(string subject)
    {
        lock (_gate)
        {
            _changedSubjects.Add(subject);
        }

        _signal.Writer.TryWrite(true);
    }
}
