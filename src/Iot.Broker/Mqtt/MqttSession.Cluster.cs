namespace Iot.Broker.Mqtt;

/// <summary>Cluster mode: a persistent session whose queued QoS 1/2 messages live in JetStream (docs/adr/0009-cluster-sessions.md).</summary>
internal sealed partial class MqttSession
{
    /// <summary>How the session is bound to the cluster (cluster mode only; null on one node).</summary>
    public ClusterBinding? Cluster { get; init; }

    /// <summary>The epoch of the cluster claim this session object was built from; 0 in single-process mode.</summary>
    public long ClusterEpoch => Cluster?.Epoch ?? 0;

    /// <summary>See <see cref="ClusterBinding.QueueInStream"/>.</summary>
    public bool QueueInStream => Cluster?.QueueInStream ?? false;

    /// <summary>See <see cref="ClusterBinding.ReadsStreamBacklog"/>.</summary>
    public bool ReadsStreamBacklog => Cluster?.ReadsStreamBacklog ?? false;

    /// <summary>
    /// Hands over a message read from the session's JetStream queue; <paramref name="sequence"/> is its stream sequence,
    /// which the acknowledgement deletes (through <see cref="Persistence.ISessionStore.DeleteMessageAsync"/>).
    /// </summary>
    public void EnqueueQueued(BrokerMessage message, long sequence, uint[]? subscriptionIds)
    {
        lock (_gate)
        {
            var delivery = new Delivery
            {
                Message = message,
                QualityOfService = message.QualityOfService,
                Retain = message.Retain,
                SubscriptionIdentifiers = subscriptionIds,
                Sequence = sequence,
            };
            _lastSequence = Math.Max(_lastSequence, sequence);
            if (DeniedLocked(message.Topic))
            {
                // The publishing node appended it knowing the subscription's filter, not the rules that overlap it
                // (docs/configuration.md, "Deny rules on overlapping filters"): this session's subscriptions decide, here.
                DeleteStored(delivery);
                return;
            }

            if (Cluster?.ReleasedAtClaim is { } released && released.Remove(sequence))
            {
                // In flight as released since the claim (RestoreOutboundReleased): not to be sent again.
                return;
            }

            if (_target is not null && _pending.IsEmpty && _inflight.HasRoom)
            {
                SendOrDropLocked(delivery, _context.NowUnixMs);
            }
            else
            {
                _pending.Add(delivery);
            }
        }
    }

    /// <summary>
    /// Cluster mode, a resumed session: the outbound QoS 2 messages the client had received (PUBREC) through a node now
    /// lost, by queue sequence, with their packet ids. They go in flight as released before anything else takes a packet
    /// id, so the attach sends PUBREL for them (MQTT §4.4), and PUBCOMP deletes them from the queue; the reader skips
    /// them when it reads them.
    /// </summary>
    public void RestoreOutboundReleased(IReadOnlyDictionary<long, ushort>? released)
    {
        if (released is not { Count: > 0 })
        {
            return;
        }

        var binding = Cluster ?? throw new InvalidOperationException("not a cluster session");
        lock (_gate)
        {
            foreach (var (sequence, packetId) in released)
            {
                binding.ReleasedAtClaim.Add(sequence);
                _inflight.Restore(new Delivery
                {
                    // Never sent again as a PUBLISH: only its packet id and its sequence in the queue matter.
                    Message = new BrokerMessage { Topic = string.Empty, Payload = ReadOnlyMemory<byte>.Empty, QualityOfService = 2 },
                    QualityOfService = 2,
                    Sequence = sequence,
                    PacketId = packetId,
                    Released = true,
                    Sent = true,
                    SendOrder = sequence,
                });
            }
        }
    }

    /// <summary>Restores the inbound QoS 2 packet ids awaiting PUBREL of a resumed session.</summary>
    public void RestoreInboundQos2(IReadOnlyList<ushort> packetIds)
    {
        if (packetIds.Count == 0)
        {
            return;
        }

        lock (_gate)
        {
            (_inboundQos2 ??= []).UnionWith(packetIds);
        }
    }

    /// <summary>The inbound QoS 2 packet ids awaiting PUBREL, for the session record.</summary>
    public ushort[] SnapshotInboundQos2()
    {
        lock (_gate)
        {
            return _inboundQos2 is { Count: > 0 } ids ? [.. ids] : [];
        }
    }

    /// <summary>
    /// Whether the subscriptions that match <paramref name="topic"/> all refuse it (<see cref="Subscription.MayDeliver"/>);
    /// false when none matches any more (a message queued before an UNSUBSCRIBE is still delivered). Under <c>_gate</c>.
    /// </summary>
    private bool DeniedLocked(string topic)
    {
        if (_subscriptions is not { } subscriptions)
        {
            return false;
        }

        var matched = false;
        foreach (var subscription in subscriptions.Values)
        {
            if (!Iot.Messaging.Topics.TopicNames.Matches(topic, subscription.TopicFilter))
            {
                continue;
            }

            if (subscription.MayDeliver(topic))
            {
                return false;
            }

            matched = true;
        }

        return matched;
    }
}

/// <summary>What a session bound through a cluster claim carries (docs/adr/0009-cluster-sessions.md).</summary>
/// <param name="Epoch">The epoch of the claim the session object was built from.</param>
/// <param name="QueueInStream">
/// A persistent session: its QoS 1/2 messages are appended to its JetStream subject by the publishing node and read back
/// by <see cref="MqttSession.EnqueueQueued"/>, so <see cref="MqttSession.Enqueue"/> ignores QoS 1/2 deliveries (they
/// would arrive twice) and the session never writes them to its store itself.
/// </param>
/// <param name="ReadsStreamBacklog">
/// A session resumed by a connection whose Session Expiry Interval is 0 (it ends with the connection) still gets what
/// was queued for it in JetStream while it was away; its new messages come live (no publisher appends for a session
/// that is not persistent), so <paramref name="QueueInStream"/> is off and only the backlog is read.
/// </param>
internal sealed class ClusterBinding(long Epoch, bool QueueInStream, bool ReadsStreamBacklog)
{
    public long Epoch { get; } = Epoch;

    public bool QueueInStream { get; } = QueueInStream;

    public bool ReadsStreamBacklog { get; } = ReadsStreamBacklog;

    /// <summary>
    /// The queue sequences of outbound QoS 2 messages past PUBREC when the session was claimed (in flight as released):
    /// the reader's copies are skipped. Guarded by the session's lock.
    /// </summary>
    public HashSet<long> ReleasedAtClaim { get; } = [];
}
