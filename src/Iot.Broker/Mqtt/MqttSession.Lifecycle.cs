using Iot.Broker.Mqtt.Persistence;

namespace Iot.Broker.Mqtt;

/// <summary>How a session is claimed, attached to and detached from a target, restored at start-up, and ended.</summary>
internal sealed partial class MqttSession
{
    /// <summary>
    /// The target (a connection) that most recently claimed this session at CONNECT, attached or still finishing its
    /// CONNECT; a newer CONNECT with the same client id takes it over.
    /// </summary>
    public IDeliveryTarget? Owner
    {
        get
        {
            lock (_gate)
            {
                return _owner;
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
        Volatile.Read(ref _target) is null
        && Volatile.Read(ref _owner) is null
        && SessionExpiryInterval != uint.MaxValue
        && nowUnixMs - DisconnectedAtUnixMs >= SessionExpiryInterval * 1000L;

    /// <summary>Makes <paramref name="owner"/> the session's owner (under the session manager's lock).</summary>
    public void Claim(IDeliveryTarget owner)
    {
        lock (_gate)
        {
            _owner = owner;
        }
    }

    /// <summary>
    /// Attaches the owning target after CONNACK: resends what was in flight (DUP, or PUBREL), then drains the queue.
    /// False when another connection claimed the session meanwhile (this one was taken over).
    /// </summary>
    /// <param name="target">The claiming target.</param>
    /// <param name="window">The client's Receive Maximum: how many QoS 1/2 deliveries may be in flight.</param>
    public bool Attach(IDeliveryTarget target, int window)
    {
        lock (_gate)
        {
            if (!ReferenceEquals(_owner, target))
            {
                return false;
            }

            _target = target;
            _inflight.Capacity = window;
            DisconnectedAtUnixMs = 0;

            // MQTT §4.4: resend in the original order.
            if (_inflight.InSendOrder() is { } resend)
            {
                foreach (var delivery in resend)
                {
                    if (delivery.Released)
                    {
                        target.SendPubRel(delivery.PacketId);
                    }
                    else
                    {
                        target.SendPublish(delivery);
                    }
                }
            }

            PumpLocked(_context.NowUnixMs);
            return true;
        }
    }

    /// <summary>Detaches <paramref name="target"/> if it is still the current one; false after a takeover.</summary>
    public bool Detach(IDeliveryTarget target, long nowUnixMs)
    {
        lock (_gate)
        {
            if (ReferenceEquals(_owner, target))
            {
                _owner = null;
            }

            if (!ReferenceEquals(_target, target))
            {
                return false;
            }

            _target = null;
            DisconnectedAtUnixMs = nowUnixMs;
            FailCommandsLocked();
            EndRetainedLocked();

            // QoS 0 messages are not kept for a disconnected session unless configured.
            if (!(_context.Options.QueueQos0WhenOffline && IsPersistent))
            {
                _pending.RemoveAll(static d => d.QualityOfService == 0);
            }

            return true;
        }
    }

    /// <summary>Restores a persisted message at start-up.</summary>
    public void Restore(PersistedMessage stored)
    {
        lock (_gate)
        {
            var delivery = new Delivery
            {
                Message = stored.Message,
                QualityOfService = stored.Message.QualityOfService,
                Retain = stored.Message.Retain,
                Sequence = stored.Sequence,
            };
            _lastSequence = Math.Max(_lastSequence, stored.Sequence);
            if (stored.Released)
            {
                delivery.Released = true;
                delivery.PacketId = stored.PacketId;
                delivery.Sent = true;
                delivery.SendOrder = stored.Sequence;
                _inflight.Restore(delivery);
            }
            else
            {
                _pending.Add(delivery);
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
            _inflight.Clear();
            _inboundQos2?.Clear();
        }
    }

    /// <summary>Ends every command delivery without PUBACK: the command queue decides about a retry.</summary>
    private void FailCommandsLocked()
    {
        List<Delivery>? commands = null;
        if (_inflight.Count > 0)
        {
            _inflight.RemoveAll(static d => d.Acknowledged is not null, commands = []);
        }

        if (!_pending.IsEmpty)
        {
            _pending.RemoveAll(static d => d.Acknowledged is not null, commands ??= []);
        }

        if (commands is null)
        {
            return;
        }

        foreach (var command in commands)
        {
            // Continuations run asynchronously (EnqueueCommand checks it): nothing runs under this lock.
            command.Acknowledged!.TrySetResult(false);
        }
    }
}
