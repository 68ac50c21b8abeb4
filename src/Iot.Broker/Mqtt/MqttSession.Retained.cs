namespace Iot.Broker.Mqtt;

/// <summary>
/// Retained messages on subscribe, flow-controlled: each SUBSCRIBE that matched retained messages leaves a
/// <see cref="RetainedCursor"/>, and the session takes from it only what fits, so that none is dropped for
/// <see cref="MqttOptions.MaxQueuedMessages"/> and live traffic keeps its bound.
/// </summary>
/// <remarks>
/// <para>
/// Cursors never use the queue (<see cref="PendingQueue"/>): they are fed only while it is empty, so live messages waiting for
/// the in-flight window go first. A QoS 1/2 retained message goes straight into the in-flight window when it has
/// room (and is stored for a persistent session, like any in-flight message); a QoS 0 one goes straight to the
/// connection while fewer than half of <see cref="MqttOptions.MaxQueuedMessages"/> QoS 0 messages wait there to be
/// written, leaving the other half to live messages. Feeding resumes when an acknowledgement frees the window
/// (<c>PumpLocked</c>) and each time the connection's writer has flushed a burst (<see cref="FeedRetained"/>), so
/// the client's reading speed paces it.
/// </para>
/// <para>
/// Cursors run one after the other, in SUBSCRIBE order. A new SUBSCRIBE that sends retained messages for a filter
/// replaces that filter's cursor (it starts again from a new snapshot); one that does not (Retain Handling 1 on an
/// existing subscription, 2) leaves it running. UNSUBSCRIBE and the end of the connection end it.
/// </para>
/// </remarks>
internal sealed partial class MqttSession
{
    private List<RetainedCursor>? _cursors;

    /// <summary>Retained messages still owed to this session's subscriptions, for diagnostics and tests.</summary>
    public int RetainedPending
    {
        get
        {
            lock (_gate)
            {
                var pending = 0;
                foreach (var cursor in _cursors ?? [])
                {
                    pending += cursor.Remaining;
                }

                return pending;
            }
        }
    }

    /// <summary>Starts (or, for the same filter, restarts) sending from <paramref name="cursor"/>; sends what fits now.</summary>
    public void StartRetained(RetainedCursor cursor)
    {
        lock (_gate)
        {
            if (!ReferenceEquals(_target, cursor.Target))
            {
                // The subscribing connection was closed or taken over meanwhile.
                cursor.Cancel();
                return;
            }

            var cursors = _cursors ??= [];
            var same = cursors.FindIndex(c => c.Subscription.Filter == cursor.Subscription.Filter);
            if (same >= 0)
            {
                cursors[same].Cancel();
                cursors.RemoveAt(same);
            }

            cursors.Add(cursor);
            if (_pending.IsEmpty)
            {
                FeedRetainedLocked(cursor.Target, _context.NowUnixMs);
            }
        }
    }

    /// <summary>Ends the cursor of <paramref name="filter"/>, if one is running (UNSUBSCRIBE).</summary>
    public void EndRetained(string filter)
    {
        lock (_gate)
        {
            if (_cursors is not { } cursors)
            {
                return;
            }

            var index = cursors.FindIndex(c => c.Subscription.Filter == filter);
            if (index >= 0)
            {
                cursors[index].Cancel();
                cursors.RemoveAt(index);
                if (cursors.Count == 0)
                {
                    _cursors = null;
                }
            }
        }
    }

    /// <summary>
    /// Called by <paramref name="target"/>'s writer after each flush, holding no lock: sends more retained messages if
    /// a cursor is waiting for room. Costs one field read when none is.
    /// </summary>
    public void FeedRetained(IDeliveryTarget target)
    {
        if (Volatile.Read(ref _cursors) is null)
        {
            return;
        }

        lock (_gate)
        {
            if (ReferenceEquals(_target, target) && _pending.IsEmpty)
            {
                FeedRetainedLocked(target, _context.NowUnixMs);
            }
        }
    }

    /// <summary>Hands retained messages to the target while there is room; the queue must be empty.</summary>
    private void FeedRetainedLocked(IDeliveryTarget target, long now)
    {
        if (_cursors is not { } cursors)
        {
            return;
        }

        var qos0Room = Math.Max(1, _context.Options.MaxQueuedMessages / 2);
        while (cursors.Count > 0)
        {
            var cursor = cursors[0];
            while (cursor.TryPeek(now, out var message))
            {
                var qos = Math.Min(message.QualityOfService, cursor.Subscription.QualityOfService);
                if (qos == 0)
                {
                    // Only this lock adds to the target's QoS 0 count, so below the bound it is never dropped.
                    if (target.QueuedQos0 >= qos0Room)
                    {
                        return;
                    }

                    cursor.Advance();
                    target.SendPublish(new Delivery { Message = message, QualityOfService = 0, Retain = true, SubscriptionIdentifiers = cursor.SubscriptionIdentifiers });
                    continue;
                }

                if (!_inflight.HasRoom)
                {
                    return;
                }

                cursor.Advance();
                var delivery = new Delivery { Message = message, QualityOfService = qos, Retain = true, SubscriptionIdentifiers = cursor.SubscriptionIdentifiers };
                if (IsPersistent)
                {
                    _ = StoreLocked(delivery);
                }

                SendOrDropLocked(delivery, now);
            }

            cursors.RemoveAt(0);
        }

        _cursors = null;
    }

    /// <summary>Ends every cursor: the connection closed or the session ends.</summary>
    private void EndRetainedLocked()
    {
        if (_cursors is { } cursors)
        {
            foreach (var cursor in cursors)
            {
                cursor.Cancel();
            }

            _cursors = null;
        }
    }
}
