using Iot.Broker.Mqtt.Persistence;

namespace Iot.Broker.Mqtt;

/// <summary>
/// The state of one client id: subscriptions, the queue of messages held back (<see cref="PendingQueue"/>), the
/// in-flight window (<see cref="InflightWindow"/>) and the packet ids of QoS 2 messages received but not yet released.
/// It outlives connections when the session expiry interval is non-zero. Transport-free: it hands what it sends to an
/// <see cref="IDeliveryTarget"/> (the client's connection today, a link to another node tomorrow).
/// </summary>
/// <remarks>
/// <para>
/// One lock (<c>_gate</c>) guards all of the session's state. The session calls its target while holding it, so that
/// its packets are queued in the order it decides them; that is safe because a target only queues under a leaf lock
/// and never calls back (the <see cref="IDeliveryTarget"/> contract). The other calls made under it are leaves too:
/// <see cref="ISessionStore"/> writes (queued, committed later), counters, <see cref="RetainedCursor"/>,
/// <see cref="Security.IPrincipalAcl"/> (a pure function) and command acknowledgements, whose continuations run
/// asynchronously (<see cref="EnqueueCommand"/> refuses any other).
/// </para>
/// <para>
/// Lock order (docs/architecture.md): <see cref="SessionManager"/>'s lock, then <see cref="SubscriptionIndex"/>'s,
/// then a session's, then the leaves. The session never takes another lock than its own and the leaves; the target's
/// writer calls the session back (<see cref="OnPubAck"/> for a packet too large, <see cref="FeedRetained"/> after a
/// flush) holding no lock.
/// </para>
/// </remarks>
internal sealed partial class MqttSession
{
    private readonly Lock _gate = new();
    private readonly BrokerContext _context;
    private PendingQueue _pending;
    private InflightWindow _inflight;
    // Created by the first inbound QoS 2 publish: most sessions never see one.
    private HashSet<ushort>? _inboundQos2;
    private IDeliveryTarget? _target;
    private IDeliveryTarget? _owner;
    private long _lastSequence;

    public MqttSession(BrokerContext context, string clientId)
    {
        _context = context;
        ClientId = clientId;
    }

    public string ClientId { get; }

    /// <summary>Seconds the session outlives its connection; 0 ends it with the connection.</summary>
    public uint SessionExpiryInterval { get; set; }

    public byte ProtocolVersion { get; set; }

    /// <summary>A record of this session is in the store (so ending it must delete that record).</summary>
    public bool Stored { get; set; }

    /// <summary>The session is stored durably (it outlives its connection).</summary>
    public bool IsPersistent => SessionExpiryInterval > 0;

    /// <summary>When the last connection ended, Unix ms; 0 while connected.</summary>
    public long DisconnectedAtUnixMs { get; set; }

    /// <summary>Where the session sends now (the attached connection); null while none is attached.</summary>
    public IDeliveryTarget? Target => Volatile.Read(ref _target);

    public bool IsConnected => Volatile.Read(ref _target) is not null;

    /// <summary>Connected with room in the in-flight window and nothing queued (used to balance shared subscriptions).</summary>
    public bool CanAcceptNow
    {
        get
        {
            lock (_gate)
            {
                return _target is not null && _pending.IsEmpty && _inflight.HasRoom;
            }
        }
    }

    /// <summary>Messages queued or in flight.</summary>
    public int QueuedCount
    {
        get
        {
            lock (_gate)
            {
                return _pending.Count + _inflight.Count;
            }
        }
    }

    /// <summary>Drops the empty in-flight map and queue (the connection is idle; the next message recreates them).</summary>
    public void TrimIdle()
    {
        // Read without the lock first: a session already trimmed (most idle ones, every tick) takes no lock.
        if (!_inflight.IsAllocated && !_pending.IsAllocated)
        {
            return;
        }

        lock (_gate)
        {
            _inflight.TrimIfEmpty();
            _pending.TrimIfEmpty();
        }
    }

    /// <summary>Hands a message to the session: sent now when the window allows, else queued (or dropped when full).</summary>
    public void Enqueue(BrokerMessage message, byte qos, bool retain, uint[]? subscriptionIds, ref DurableWrites durable)
    {
        lock (_gate)
        {
            if (qos == 0)
            {
                EnqueueQos0Locked(message, retain, subscriptionIds);
                return;
            }

            if (QueueInStream)
            {
                // Cluster mode: the publishing node appended it to this session's JetStream queue (EnqueueQueued).
                return;
            }

            if (_pending.Count >= _context.Options.MaxQueuedMessages)
            {
                _context.Metrics.MessageDropped(DropReason.QueueFull);
                return;
            }

            var delivery = new Delivery { Message = message, QualityOfService = qos, Retain = retain, SubscriptionIdentifiers = subscriptionIds };
            if (IsPersistent)
            {
                durable.Add(StoreLocked(delivery));
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
    /// Hands a device command (QoS 1, not persisted: the command queue owns retries) to the connected client;
    /// false when no connection is attached. <paramref name="acknowledged"/> completes on PUBACK or failure; it must
    /// run its continuations asynchronously, since it is completed under the session's lock.
    /// </summary>
    public bool EnqueueCommand(BrokerMessage message, TaskCompletionSource<bool> acknowledged)
    {
        ArgumentNullException.ThrowIfNull(acknowledged);
        if ((acknowledged.Task.CreationOptions & TaskCreationOptions.RunContinuationsAsynchronously) == 0)
        {
            throw new ArgumentException("The acknowledgement must run its continuations asynchronously.", nameof(acknowledged));
        }

        lock (_gate)
        {
            if (_target is null)
            {
                return false;
            }

            var delivery = new Delivery { Message = message, QualityOfService = 1, Acknowledged = acknowledged };
            if (_pending.IsEmpty && _inflight.HasRoom)
            {
                SendOrDropLocked(delivery, _context.NowUnixMs);
            }
            else
            {
                _pending.Add(delivery);
            }

            return true;
        }
    }

    public void OnPubAck(ushort packetId) => Complete(packetId, expectReleased: false);

    public void OnPubComp(ushort packetId) => Complete(packetId, expectReleased: true);

    /// <summary>PUBREC from the client: the QoS 2 message is received; answer with PUBREL. False when the id is unknown.</summary>
    public bool OnPubRec(ushort packetId, bool failed)
    {
        lock (_gate)
        {
            if (!_inflight.TryGet(packetId, out var delivery) || delivery.QualityOfService != 2)
            {
                return false;
            }

            if (failed)
            {
                // MQTT 5: a PUBREC with a failure reason ends the flow for that message.
                CompleteLocked(delivery);
                PumpLocked(_context.NowUnixMs);
                return true;
            }

            if (!delivery.Released)
            {
                delivery.Released = true;
                if (delivery.Sequence != 0)
                {
                    _ = _context.Store.MarkReleasedAsync(ClientId, delivery.Sequence, packetId);
                }
            }

            _target?.SendPubRel(packetId);
            return true;
        }
    }

    /// <summary>Records an inbound QoS 2 packet id; false when it was already received (a resend: do not forward again).</summary>
    public bool TryBeginInboundQos2(ushort packetId)
    {
        lock (_gate)
        {
            return (_inboundQos2 ??= []).Add(packetId);
        }
    }

    /// <summary>PUBREL from the client ends the inbound QoS 2 flow; false when the id was unknown.</summary>
    public bool EndInboundQos2(ushort packetId)
    {
        lock (_gate)
        {
            return _inboundQos2?.Remove(packetId) ?? false;
        }
    }

    private void EnqueueQos0Locked(BrokerMessage message, bool retain, uint[]? subscriptionIds)
    {
        if (_target is { } online && _pending.IsEmpty)
        {
            if (subscriptionIds is null)
            {
                // Nothing of this subscriber's to keep: the target queues the shared message itself.
                online.SendPublishQos0(message, retain);
            }
            else
            {
                online.SendPublish(new Delivery { Message = message, QualityOfService = 0, Retain = retain, SubscriptionIdentifiers = subscriptionIds });
            }

            return;
        }

        if (_target is null && !(_context.Options.QueueQos0WhenOffline && IsPersistent))
        {
            _context.Metrics.MessageDropped(DropReason.Offline);
            return;
        }

        var delivery = new Delivery { Message = message, QualityOfService = 0, Retain = retain, SubscriptionIdentifiers = subscriptionIds };
        if (!_pending.TryEnqueue(delivery, _context.Options.MaxQueuedMessages))
        {
            _context.Metrics.MessageDropped(DropReason.QueueFull);
        }
    }

    private void Complete(ushort packetId, bool expectReleased)
    {
        lock (_gate)
        {
            if (!_inflight.TryGet(packetId, out var delivery) || (delivery.QualityOfService == 2) != expectReleased)
            {
                return;
            }

            CompleteLocked(delivery);
            PumpLocked(_context.NowUnixMs);
        }
    }

    /// <summary>The delivery's flow ended: out of the window, acknowledged to a command, deleted from the store.</summary>
    private void CompleteLocked(Delivery delivery)
    {
        delivery.Acknowledged?.TrySetResult(true);
        _inflight.Remove(delivery.PacketId);
        DeleteStored(delivery);
    }

    /// <summary>Sends from the queue while the window has room, then feeds retained messages into what room is left.</summary>
    private void PumpLocked(long now)
    {
        if (_target is not { } target)
        {
            return;
        }

        while (_pending.TryPeek(out var delivery))
        {
            if (delivery.QualityOfService > 0 && !_inflight.HasRoom)
            {
                return;
            }

            _pending.Dequeue();
            SendOrDropLocked(delivery, now);
        }

        // The queue is empty: retained messages owed since a SUBSCRIBE may use the room left.
        FeedRetainedLocked(target, now);
    }

    /// <summary>
    /// Sends <paramref name="delivery"/> (a QoS 1/2 one enters the in-flight window, which must have room), or drops it
    /// when its message expired while it waited: the one place a held-back delivery's expiry is handled.
    /// </summary>
    private void SendOrDropLocked(Delivery delivery, long now)
    {
        if (delivery.Message.IsExpired(now))
        {
            delivery.Acknowledged?.TrySetResult(false);
            _context.Metrics.MessageDropped(DropReason.Expired);
            DeleteStored(delivery);
            return;
        }

        if (delivery.QualityOfService > 0)
        {
            _inflight.Add(delivery);
        }

        _target!.SendPublish(delivery);
    }

    /// <summary>Stores a QoS 1/2 delivery of a persistent session under the next sequence; the write to wait for.</summary>
    private Task StoreLocked(Delivery delivery)
    {
        delivery.Sequence = ++_lastSequence;
        return _context.Store.AppendMessageAsync(ClientId, delivery.Sequence, StoredForm(delivery));
    }

    private void DeleteStored(Delivery delivery)
    {
        if (delivery.Sequence != 0)
        {
            _ = _context.Store.DeleteMessageAsync(ClientId, delivery.Sequence);
        }
    }

    /// <summary>The stored form keeps the delivery's QoS and RETAIN flag so that a restart resends it the same way.</summary>
    private static BrokerMessage StoredForm(Delivery d) =>
        d.Message.QualityOfService == d.QualityOfService && d.Message.Retain == d.Retain
            ? d.Message
            : new BrokerMessage
            {
                Topic = d.Message.Topic,
                Payload = d.Message.Payload,
                QualityOfService = d.QualityOfService,
                Retain = d.Retain,
                ExpiresAtUnixMs = d.Message.ExpiresAtUnixMs,
                ContentType = d.Message.ContentType,
                ResponseTopic = d.Message.ResponseTopic,
                CorrelationData = d.Message.CorrelationData,
                PayloadFormatIndicator = d.Message.PayloadFormatIndicator,
                UserProperties = d.Message.UserProperties,
                SourceClientId = d.Message.SourceClientId,
                ReceivedAtUnixMs = d.Message.ReceivedAtUnixMs,
            };
}
