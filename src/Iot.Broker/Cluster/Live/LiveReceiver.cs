using System.Buffers;
using System.Buffers.Binary;
using Iot.Broker.Mqtt;
using NATS.Client.Core;

namespace Iot.Broker.Cluster.Live;

/// <summary>
/// The receiving side of the live path: keeps this node's NATS subscriptions in line with <see cref="LiveInterest"/> (one
/// per distinct subject of its non-shared filters, one queue subscription per subject of each shared group), and hands
/// each message from another node to the local sessions only, through <see cref="MessageDispatcher"/>.
/// </summary>
/// <remarks>
/// <para>
/// A message on a non-shared subscription is delivered once per node however many of this node's subscriptions NATS
/// matched (overlapping filters bring one copy each): the first copy of an (origin, id) matches the whole local tree once,
/// so a session gets one PUBLISH at the highest granted QoS with every subscription identifier; later copies are dropped by
/// <see cref="OriginWindow"/>, before anything is allocated. Copies from this node itself (NATS echoes them) are dropped:
/// the origin delivered to its own sessions before publishing. A message on a queue subscription goes to one member of its
/// shared group on this node: NATS picked this node among the group's nodes, the group picks the member.
/// </para>
/// <para>
/// Messages arrive on the live connection's reader, one at a time, in NATS order (an origin's messages reach this node in
/// the order it sent them). The window lock is only ever taken there, and around nothing else.
/// </para>
/// </remarks>
internal sealed class LiveReceiver(
    LiveConnection connection,
    LiveInterest interest,
    MessageDispatcher dispatcher,
    BrokerContext context,
    TimeProvider time,
    ILogger<LiveReceiver> logger) : BackgroundService
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    private readonly Dictionary<string, LiveSubscription> _plain = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Share, string Filter), LiveSubscription[]> _queues = [];
    private readonly Lock _windowsGate = new();
    private readonly Dictionary<string, (byte[] Origin, OriginWindow Window)> _windows = new(StringComparer.Ordinal);
    private byte[] _lastOrigin = [];
    private OriginWindow? _lastWindow;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(connection.RequestTimeout);
        await connection.Nats.ConnectAsync().AsTask().WaitAsync(timeout.Token).ConfigureAwait(false);
        LiveLog.Started(logger, connection.NodeId, interest.Prefix);
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Handles one message of <paramref name="subscription"/> (on the connection's reader; never throws).</summary>
    public void OnMessage(LiveSubscription subscription, string subject, ReadOnlySequence<byte> body)
    {
        // The header up to the message id: origin and id decide what happens before anything is allocated.
        Span<byte> head = stackalloc byte[5 + 255 + 8];
        var headLength = (int)Math.Min(body.Length, head.Length);
        body.Slice(0, headLength).CopyTo(head);
        if (headLength < 5 || head[0] != LiveEnvelope.Version || headLength < 5 + head[4] + 8)
        {
            Unreadable(subject);
            return;
        }

        var origin = head.Slice(5, head[4]);
        var shared = subscription.QueueGroup is not null;
        if (!shared)
        {
            if (origin.SequenceEqual(connection.Origin.Span))
            {
                return;
            }

            if (!Accept(origin, BinaryPrimitives.ReadUInt64LittleEndian(head[(5 + origin.Length)..])))
            {
                context.Metrics.Add(BrokerCounter.ClusterLiveDuplicates);
                return;
            }
        }

        if (TopicSubjects.FromSubject(interest.Prefix, subject) is not { } topic
            || !LiveEnvelope.TryRead(body, topic, context.NowUnixMs, out var inbound))
        {
            Unreadable(subject);
            return;
        }

        context.Metrics.Add(BrokerCounter.ClusterLiveReceived);
        if (!shared)
        {
            dispatcher.DeliverFromCluster(inbound.Message, inbound.PublisherClientId);
        }
        else if (subscription.Group is not { } group || !dispatcher.DeliverToGroup(group, inbound.Message))
        {
            context.Metrics.Add(BrokerCounter.ClusterLiveLost);
            LiveLog.NoSharedMember(logger, topic, subscription.Group?.ShareName ?? subscription.QueueGroup!);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var subjects = new List<(string Subject, bool Wanted)>();
        var groups = new List<((string Share, string Filter) Key, SharedGroup? Group)>();
        try
        {
            while (await interest.WaitForChangesAsync(stoppingToken).ConfigureAwait(false))
            {
                var generation = interest.TakeChanges(subjects, groups);
                foreach (var (subject, wanted) in subjects)
                {
                    await ApplySubjectAsync(subject, wanted, stoppingToken).ConfigureAwait(false);
                }

                foreach (var (key, group) in groups)
                {
                    await ApplyGroupAsync(key, group, stoppingToken).ConfigureAwait(false);
                }

                subjects.Clear();
                groups.Clear();

                // Sent to the server on this connection, ahead of anything published on it from now on.
                interest.Applied.Advance(generation);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>The queue group of a shared group: one per (share name, filter), so that no two groups ever share one.</summary>
    internal static string QueueGroupOf((string Share, string Filter) key) => TopicSubjects.ToSubject("q", key.Share + "/" + key.Filter);

    private async Task ApplySubjectAsync(string subject, bool wanted, CancellationToken cancellationToken)
    {
        if (wanted && !_plain.ContainsKey(subject))
        {
            var subscription = new LiveSubscription(this, connection.Nats, subject, queueGroup: null);
            if (await TrySubscribeAsync(subscription, cancellationToken).ConfigureAwait(false))
            {
                _plain[subject] = subscription;
            }
            else
            {
                await RetryLaterAsync(subject, null, cancellationToken).ConfigureAwait(false);
            }
        }
        else if (!wanted && _plain.Remove(subject, out var subscription))
        {
            await UnsubscribeAsync(subscription).ConfigureAwait(false);
        }
    }

    private async Task ApplyGroupAsync((string Share, string Filter) key, SharedGroup? group, CancellationToken cancellationToken)
    {
        if (group is null)
        {
            if (_queues.Remove(key, out var gone))
            {
                foreach (var subscription in gone)
                {
                    await UnsubscribeAsync(subscription).ConfigureAwait(false);
                }
            }

            return;
        }

        if (_queues.TryGetValue(key, out var existing))
        {
            foreach (var subscription in existing)
            {
                subscription.Group = group;
            }

            return;
        }

        var queue = QueueGroupOf(key);
        var subjects = TopicSubjects.FilterSubjects(interest.Prefix, key.Filter);
        var made = new List<LiveSubscription>(subjects.Length);
        foreach (var subject in subjects)
        {
            var subscription = new LiveSubscription(this, connection.Nats, subject, queue) { Group = group };
            if (!await TrySubscribeAsync(subscription, cancellationToken).ConfigureAwait(false))
            {
                foreach (var done in made)
                {
                    await UnsubscribeAsync(done).ConfigureAwait(false);
                }

                await RetryLaterAsync(null, key, cancellationToken).ConfigureAwait(false);
                return;
            }

            made.Add(subscription);
        }

        _queues[key] = [.. made];
    }

    private async Task<bool> TrySubscribeAsync(LiveSubscription subscription, CancellationToken cancellationToken)
    {
        try
        {
            await connection.Nats.AddSubAsync(subscription, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is NatsException or TimeoutException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            LiveLog.SubscribeFailed(logger, subscription.Subject, subscription.QueueGroup, e);
            return false;
        }
    }

    private async Task UnsubscribeAsync(LiveSubscription subscription)
    {
        try
        {
            await subscription.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is NatsException or TimeoutException or OperationCanceledException)
        {
            LiveLog.UnsubscribeFailed(logger, subscription.Subject, e);
        }
    }

    private async Task RetryLaterAsync(string? subject, (string Share, string Filter)? group, CancellationToken cancellationToken)
    {
        await Task.Delay(RetryDelay, time, cancellationToken).ConfigureAwait(false);
        interest.Retry(subject, group);
    }

    private bool Accept(ReadOnlySpan<byte> origin, ulong id)
    {
        lock (_windowsGate)
        {
            if (_lastWindow is null || !origin.SequenceEqual(_lastOrigin))
            {
                Span<char> name = stackalloc char[origin.Length];
                for (var i = 0; i < origin.Length; i++)
                {
                    name[i] = (char)origin[i];
                }

                var lookup = _windows.GetAlternateLookup<ReadOnlySpan<char>>();
                if (!lookup.TryGetValue(name, out var entry))
                {
                    entry = (origin.ToArray(), new OriginWindow());
                    _windows[name.ToString()] = entry;
                }

                (_lastOrigin, _lastWindow) = entry;
            }

            return _lastWindow.TryAccept(id);
        }
    }

    private void Unreadable(string subject)
    {
        context.Metrics.Add(BrokerCounter.ClusterLiveLost);
        LiveLog.Unreadable(logger, subject);
    }
}
