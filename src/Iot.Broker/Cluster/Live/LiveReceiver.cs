using System.Buffers;
using System.Buffers.Binary;
using Iot.Broker.Mqtt;
using NATS.Client.Core;

namespace Iot.Broker.Cluster.Live;

/// <summary>
/// The receiving side of the live path: keeps this node's NATS subscriptions in line with <see cref="LiveInterest"/> (one
/// per distinct subject of its non-shared filters), and hands each message from another node to the local sessions only,
/// through <see cref="MessageDispatcher"/>. One more subscription, <c>{prefix}.g.{node id}</c>, brings the shared groups'
/// messages that a publishing node (this one included) picked one of this node's members for.
/// </summary>
/// <remarks>
/// <para>
/// A message on a non-shared subscription is delivered once per node however many of this node's subscriptions NATS
/// matched (overlapping filters bring one copy each): the first copy of an (origin, id) matches the whole local tree once,
/// so a session gets one PUBLISH at the highest granted QoS with every subscription identifier; later copies are dropped by
/// <see cref="OriginWindow"/>, before anything is allocated. Copies from this node itself (NATS echoes them) are dropped:
/// the origin delivered to its own sessions before publishing. A shared group's message goes to the member named in it,
/// or to another member of the group here when that one just left.
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
    private LiveSubscription? _members;
    private readonly Lock _windowsGate = new();
    private readonly Dictionary<string, (byte[] Origin, OriginWindow Window)> _windows = new(StringComparer.Ordinal);
    private byte[] _lastOrigin = [];
    private OriginWindow? _lastWindow;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(connection.RequestTimeout);
        await connection.Nats.ConnectAsync().AsTask().WaitAsync(timeout.Token).ConfigureAwait(false);

        // Before any member here can be picked: a SUBSCRIBE is acknowledged only after the listeners open.
        var members = new LiveSubscription(this, connection.Nats, LiveLink.MemberSubject(interest.Prefix, connection.NodeId), forMembers: true);
        await connection.Nats.AddSubAsync(members, timeout.Token).ConfigureAwait(false);
        _members = members;
        LiveLog.Started(logger, connection.NodeId, interest.Prefix);
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Handles one message of <paramref name="subscription"/> (on the connection's reader; never throws).</summary>
    public void OnMessage(LiveSubscription subscription, string subject, ReadOnlySequence<byte> body)
    {
        if (subscription.ForMembers)
        {
            OnMemberMessage(subject, body);
            return;
        }

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
        if (origin.SequenceEqual(connection.Origin.Span))
        {
            return;
        }

        if (!Accept(origin, BinaryPrimitives.ReadUInt64LittleEndian(head[(5 + origin.Length)..])))
        {
            context.Metrics.Add(BrokerCounter.ClusterLiveDuplicates);
            return;
        }

        if (TopicSubjects.FromSubject(interest.Prefix, subject) is not { } topic
            || !LiveEnvelope.TryRead(body, topic, context.NowUnixMs, out var inbound))
        {
            Unreadable(subject);
            return;
        }

        context.Metrics.Add(BrokerCounter.ClusterLiveReceived);
        dispatcher.DeliverFromCluster(inbound.Message, inbound.PublisherClientId);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var subjects = new List<(string Subject, bool Wanted)>();
        try
        {
            while (await interest.WaitForChangesAsync(stoppingToken).ConfigureAwait(false))
            {
                var generation = interest.TakeChanges(subjects);
                foreach (var (subject, wanted) in subjects)
                {
                    await ApplySubjectAsync(subject, wanted, stoppingToken).ConfigureAwait(false);
                }

                subjects.Clear();

                // Sent to the server on this connection, ahead of anything published on it from now on.
                interest.Applied.Advance(generation);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>A shared group's message for one of this node's members.</summary>
    private void OnMemberMessage(string subject, ReadOnlySequence<byte> body)
    {
        if (!LiveEnvelope.TryReadForMember(body, context.NowUnixMs, out var inbound, out var target))
        {
            Unreadable(subject);
            return;
        }

        context.Metrics.Add(BrokerCounter.ClusterLiveReceived);
        if (interest.GroupOf(target.Share, target.Filter) is not { } group || !MessageDispatcher.DeliverToMember(group, target.ClientId, inbound.Message))
        {
            context.Metrics.Add(BrokerCounter.ClusterLiveLost);
            LiveLog.NoSharedMember(logger, inbound.Message.Topic, target.Share, target.ClientId);
        }
    }

    private async Task ApplySubjectAsync(string subject, bool wanted, CancellationToken cancellationToken)
    {
        if (wanted && !_plain.ContainsKey(subject))
        {
            var subscription = new LiveSubscription(this, connection.Nats, subject);
            if (await TrySubscribeAsync(subscription, cancellationToken).ConfigureAwait(false))
            {
                _plain[subject] = subscription;
            }
            else
            {
                await RetryLaterAsync(subject, cancellationToken).ConfigureAwait(false);
            }
        }
        else if (!wanted && _plain.Remove(subject, out var subscription))
        {
            await UnsubscribeAsync(subscription).ConfigureAwait(false);
        }
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
            LiveLog.SubscribeFailed(logger, subscription.Subject, e);
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

    private async Task RetryLaterAsync(string subject, CancellationToken cancellationToken)
    {
        await Task.Delay(RetryDelay, time, cancellationToken).ConfigureAwait(false);
        interest.Retry(subject);
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
