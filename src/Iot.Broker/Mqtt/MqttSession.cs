using Iot.Broker.Mqtt.Persistence;

namespace Iot.Broker.Mqtt;

/// <summary>
/// The state of one client id: subscriptions, the queue of messages not yet sent, the in-flight window and the
/// packet ids of QoS 2 messages received but not yet released. It outlives connections when the session expiry
/// interval is non-zero. All state is guarded by one lock; sends go to the attached connection's outbound channel.
/// </summary>
internal sealed partial class MqttSession
{
    private readonly Lock _gate = new();
    private readonly SessionContext _context;
    private readonly Queue<Delivery> _pending = new();
    // Messages sent and not yet acknowledged by packet id, created by the first QoS 1/2 send and dropped again by
    // TrimIdle: an idle session holds none.
    private Dictionary<ushort, Delivery>? _inflight;
    // Created by the first inbound QoS 2 publish: most sessions never see one.
    private HashSet<ushort>? _inboundQos2;
    private MqttConnection? _connection;
    private MqttConnection? _owner;
    private long _sendOrder;
    private int _window;
    private ushort _lastPacketId;
    private long _lastSequence;

    public MqttSession(SessionContext context, string clientId)
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

    /// <summary>
    /// The subscriptions by filter as subscribed, created by the first SUBSCRIBE (a session that never subscribes holds
    /// none); null while there are none. Changed only under <see cref="SubscriptionIndex"/>'s lock.
    /// </summary>
    public Dictionary<string, Subscription>? Subscriptions { get; private set; }

    /// <summary>The number of subscriptions.</summary>
    public int SubscriptionCount => Subscriptions?.Count ?? 0;

    /// <summary>The subscriptions, created on first use.</summary>
    public Dictionary<string, Subscription> SubscriptionsForUpdate => Subscriptions ??= new(StringComparer.Ordinal);

    /// <summary>Forgets every subscription (the index has removed them).</summary>
    public void ClearSubscriptions() => Subscriptions = null;

    public MqttConnection? Connection => Volatile.Read(ref _connection);

    public bool IsConnected => Volatile.Read(ref _connection) is not null;

    /// <summary>Connected with room in the in-flight window and nothing queued (used to balance shared subscriptions).</summary>
    public bool CanAcceptNow
    {
        get
        {
            lock (_gate)
            {
                return _connection is not null && _pending.Count == 0 && InflightCount < _window;
            }
        }
    }

    private int InflightCount => _inflight?.Count ?? 0;

    /// <summary>Drops the in-flight map when it is empty (the connection is idle; the next QoS 1/2 send recreates it).</summary>
    public void TrimIdle()
    {
        if (Volatile.Read(ref _inflight) is null)
        {
            return;
        }

        lock (_gate)
        {
            if (_inflight is { Count: 0 })
            {
                _inflight = null;
            }
        }
    }

    public int QueuedCount
    {
        get
        {
            lock (_gate)
            {
                return _pending.Count + InflightCount;
            }
        }
    }

    /// <summary>Whether the end of the session is due.</summary>
    /// <remarks>
    /// A session claimed by a connection whose CONNECT is still being handled (claimed, durable record being written,
    /// not yet attached) is not expired: a new session has no disconnect time yet, and the maintenance tick once
    /// discarded such a session in that window, so the client's next reconnect found no session.
    /// </remarks>
    public bool IsExpired(long nowUnixMs) =>
        _connection is null
        && Volatile.Read(ref _owner) is null
        && SessionExpiryInterval != uint.MaxValue
        && nowUnixMs - DisconnectedAtUnixMs >= SessionExpiryInterval * 1000L;

    /// <summary>Hands a message to the session: sent now when the window allows, else queued (or dropped when full).</summary>
    public void Enqueue(BrokerMessage message, byte qos, bool retain, uint[]? subscriptionIds, ref DurableWrites durable)
    {
        lock (_gate)
        {
            if (qos == 0)
            {
                if (_connection is { } online && _pending.Count == 0 && subscriptionIds is null)
                {
                    // Nothing of this subscriber's to keep: the connection queues the shared message itself.
                    online.SendPublishQos0(message, retain);
                    return;
                }

                var delivery = new Delivery { Message = message, QualityOfService = 0, Retain = retain, SubscriptionIdentifiers = subscriptionIds };
                if (_connection is { } connection && _pending.Count == 0)
                {
                    connection.SendPublish(delivery);
                }
                else if (_connection is null && !(_context.Options.QueueQos0WhenOffline && IsPersistent))
                {
                    _context.Metrics.MessageDropped(DropReason.Offline);
                }
                else if (_pending.Count >= _context.Options.MaxQueuedMessages)
                {
                    _context.Metrics.MessageDropped(DropReason.QueueFull);
                }
                else
                {
                    _pending.Enqueue(delivery);
                }

                return;
            }

            if (_pending.Count >= _context.Options.MaxQueuedMessages)
            {
                _context.Metrics.MessageDropped(DropReason.QueueFull);
                return;
            }

            var d = new Delivery { Message = message, QualityOfService = qos, Retain = retain, SubscriptionIdentifiers = subscriptionIds };
            if (IsPersistent)
            {
                d.Sequence = ++_lastSequence;
                durable.Add(_context.Store.AppendMessageAsync(ClientId, d.Sequence, StoredForm(d)));
            }

            if (_connection is not null && _pending.Count == 0 && InflightCount < _window)
            {
                SendInflightLocked(d, _context.NowUnixMs);
            }
            else
            {
                _pending.Enqueue(d);
            }
        }
    }

    /// <summary>
    /// Hands a device command (QoS 1, not persisted: the command queue owns retries) to the connected client;
    /// false when no connection is attached. <paramref name="acknowledged"/> completes on PUBACK or failure.
    /// </summary>
    public bool EnqueueCommand(BrokerMessage message, TaskCompletionSource<bool> acknowledged)
    {
        lock (_gate)
        {
            if (_connection is null)
            {
                return false;
            }

            var d = new Delivery { Message = message, QualityOfService = 1, Acknowledged = acknowledged };
            if (_pending.Count == 0 && InflightCount < _window)
            {
                SendInflightLocked(d, _context.NowUnixMs);
            }
            else
            {
                _pending.Enqueue(d);
            }

            return true;
        }
    }

    /// <summary>
    /// The connection that most recently claimed this session at CONNECT, attached or still finishing its CONNECT;
    /// a newer CONNECT with the same client id takes it over.
    /// </summary>
    public MqttConnection? Owner
    {
        get
        {
            lock (_gate)
            {
                return _owner;
            }
        }
    }

    /// <summary>Makes <paramref name="connection"/> the session's owner (under the session manager's lock).</summary>
    public void Claim(MqttConnection connection)
    {
        lock (_gate)
        {
            _owner = connection;
        }
    }

    /// <summary>
    /// Attaches the owning connection after CONNACK: resends what was in flight (DUP, or PUBREL), then drains the
    /// queue. False when another connection claimed the session meanwhile (this one was taken over).
    /// </summary>
    public bool Attach(MqttConnection connection, int window)
    {
        lock (_gate)
        {
            if (!ReferenceEquals(_owner, connection))
            {
                return false;
            }

            _connection = connection;
            _window = window;
            DisconnectedAtUnixMs = 0;
            if (InflightCount > 0)
            {
                // MQTT §4.4: resend in the original order.
                var resend = new List<Delivery>(_inflight!.Values);
                resend.Sort(static (a, b) => a.SendOrder.CompareTo(b.SendOrder));
                foreach (var d in resend)
                {
                    if (d.Released)
                    {
                        connection.SendPubRel(d.PacketId);
                    }
                    else
                    {
                        connection.SendPublish(d);
                    }
                }
            }

            PumpLocked(_context.NowUnixMs);
            return true;
        }
    }

    /// <summary>Detaches <paramref name="connection"/> if it is still the current one; false after a takeover.</summary>
    public bool Detach(MqttConnection connection, long nowUnixMs)
    {
        lock (_gate)
        {
            if (ReferenceEquals(_owner, connection))
            {
                _owner = null;
            }

            if (!ReferenceEquals(_connection, connection))
            {
                return false;
            }

            _connection = null;
            DisconnectedAtUnixMs = nowUnixMs;
            FailCommandsLocked();
            EndRetainedLocked();

            // QoS 0 messages are not kept for a disconnected session unless configured.
            if (!(_context.Options.QueueQos0WhenOffline && IsPersistent) && _pending.Count > 0)
            {
                var kept = _pending.Where(static d => d.QualityOfService > 0).ToArray();
                _pending.Clear();
                foreach (var d in kept)
                {
                    _pending.Enqueue(d);
                }
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
            if (_inflight is null || !_inflight.TryGetValue(packetId, out var d) || d.QualityOfService != 2)
            {
                return false;
            }

            if (failed)
            {
                // MQTT 5: a PUBREC with a failure reason ends the flow for that message.
                RemoveInflightLocked(packetId, d);
                PumpLocked(_context.NowUnixMs);
                return true;
            }

            if (!d.Released)
            {
                d.Released = true;
                if (d.Sequence != 0)
                {
                    _ = _context.Store.MarkReleasedAsync(ClientId, d.Sequence, packetId);
                }
            }

            _connection?.SendPubRel(packetId);
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

    /// <summary>Restores a persisted message at start-up.</summary>
    public void Restore(PersistedMessage stored)
    {
        lock (_gate)
        {
            var d = new Delivery
            {
                Message = stored.Message,
                QualityOfService = stored.Message.QualityOfService,
                Retain = stored.Message.Retain,
                Sequence = stored.Sequence,
            };
            _lastSequence = Math.Max(_lastSequence, stored.Sequence);
            if (stored.Released)
            {
                d.Released = true;
                d.PacketId = stored.PacketId;
                d.Sent = true;
                d.SendOrder = stored.Sequence;
                _sendOrder = Math.Max(_sendOrder, stored.Sequence);
                (_inflight ??= [])[stored.PacketId] = d;
            }
            else
            {
                _pending.Enqueue(d);
            }
        }
    }

    /// <summary>Drops every queued message (the session ends or starts clean).</summary>
    public void Clear()
    {
        lock (_gate)
        {
            FailCommandsLocked();
            EndRetainedLocked();
            _pending.Clear();
            _inflight = null;
            _inboundQos2?.Clear();
        }
    }

    private void Complete(ushort packetId, bool expectReleased)
    {
        lock (_gate)
        {
            if (_inflight is null || !_inflight.TryGetValue(packetId, out var d) || (d.QualityOfService == 2) != expectReleased)
            {
                return;
            }

            RemoveInflightLocked(packetId, d);
            PumpLocked(_context.NowUnixMs);
        }
    }

    /// <summary>Ends every command delivery without PUBACK: the command queue decides about a retry.</summary>
    private void FailCommandsLocked()
    {
        if (_inflight is { } inflight)
        {
            List<ushort>? ids = null;
            foreach (var (id, d) in inflight)
            {
                if (d.Acknowledged is { } ack)
                {
                    ack.TrySetResult(false);
                    (ids ??= []).Add(id);
                }
            }

            if (ids is not null)
            {
                foreach (var id in ids)
                {
                    inflight.Remove(id);
                }
            }
        }

        if (_pending.Any(static d => d.Acknowledged is not null))
        {
            var kept = new List<Delivery>(_pending.Count);
            foreach (var d in _pending)
            {
                if (d.Acknowledged is { } ack)
                {
                    ack.TrySetResult(false);
                }
                else
                {
                    kept.Add(d);
                }
            }

            _pending.Clear();
            foreach (var d in kept)
            {
                _pending.Enqueue(d);
            }
        }
    }

    private void RemoveInflightLocked(ushort packetId, Delivery d)
    {
        d.Acknowledged?.TrySetResult(true);
        _inflight!.Remove(packetId);
        if (d.Sequence != 0)
        {
            _ = _context.Store.DeleteMessageAsync(ClientId, d.Sequence);
        }
    }

    private void PumpLocked(long now)
    {
        var connection = _connection;
        if (connection is null)
        {
            return;
        }

        while (_pending.Count > 0)
        {
            var d = _pending.Peek();
            if (d.QualityOfService > 0 && InflightCount >= _window)
            {
                return;
            }

            _pending.Dequeue();
            if (d.Message.IsExpired(now))
            {
                d.Acknowledged?.TrySetResult(false);
                _context.Metrics.MessageDropped(DropReason.Expired);
                if (d.Sequence != 0)
                {
                    _ = _context.Store.DeleteMessageAsync(ClientId, d.Sequence);
                }

                continue;
            }

            if (d.QualityOfService == 0)
            {
                connection.SendPublish(d);
            }
            else
            {
                SendInflightLocked(d, now);
            }
        }

        // The queue is empty: retained messages owed since a SUBSCRIBE may use the room left.
        FeedRetainedLocked(connection, now);
    }

    private void SendInflightLocked(Delivery d, long now)
    {
        if (d.Message.IsExpired(now))
        {
            d.Acknowledged?.TrySetResult(false);
            _context.Metrics.MessageDropped(DropReason.Expired);
            if (d.Sequence != 0)
            {
                _ = _context.Store.DeleteMessageAsync(ClientId, d.Sequence);
            }

            return;
        }

        d.PacketId = NextPacketIdLocked();
        d.SendOrder = ++_sendOrder;
        (_inflight ??= [])[d.PacketId] = d;
        _connection!.SendPublish(d);
    }

    private ushort NextPacketIdLocked()
    {
        // The window is at most 65535, so a free id always exists.
        do
        {
            _lastPacketId = _lastPacketId == ushort.MaxValue ? (ushort)1 : (ushort)(_lastPacketId + 1);
        }
        while (_inflight?.ContainsKey(_lastPacketId) == true);

        return _lastPacketId;
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
                PublisherClientId = d.Message.PublisherClientId,
                ReceivedAtUnixMs = d.Message.ReceivedAtUnixMs,
            };
}
