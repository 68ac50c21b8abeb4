namespace Iot.Broker.Mqtt;

/// <summary>
/// The QoS 1/2 deliveries a session has sent and the client has not finished acknowledging, by packet id, bounded by
/// the client's Receive Maximum (the window). It hands out packet ids and remembers the order deliveries entered it,
/// so that a resend after a reconnect keeps the original order (MQTT §4.4). Modelled on EMQX's <c>emqx_inflight</c>.
/// </summary>
/// <remarks>
/// A mutable struct embedded in its <see cref="MqttSession"/> (no object of its own per session) and never copied;
/// not thread-safe: the session's lock guards it. The map is created by the first QoS 1/2 send and dropped again by
/// <see cref="TrimIfEmpty"/>, so an idle session holds none.
/// </remarks>
internal struct InflightWindow
{
    private Dictionary<ushort, Delivery>? _byPacketId;
    private long _lastSendOrder;
    private ushort _lastPacketId;

    /// <summary>How many deliveries may be in flight at once (the client's Receive Maximum).</summary>
    public int Capacity { get; set; }

    public readonly int Count => _byPacketId?.Count ?? 0;

    /// <summary>Another QoS 1/2 delivery may be sent now.</summary>
    public readonly bool HasRoom => Count < Capacity;

    /// <summary>Whether the map exists (may be read without the lock: a stale answer only delays a trim).</summary>
    public readonly bool IsAllocated => _byPacketId is not null;

    /// <summary>Gives <paramref name="delivery"/> a free packet id and the next send order, and tracks it.</summary>
    public void Add(Delivery delivery)
    {
        var map = _byPacketId ??= [];

        // The window is at most 65535, so a free id always exists.
        do
        {
            _lastPacketId = _lastPacketId == ushort.MaxValue ? (ushort)1 : (ushort)(_lastPacketId + 1);
        }
        while (map.ContainsKey(_lastPacketId));

        delivery.PacketId = _lastPacketId;
        delivery.SendOrder = ++_lastSendOrder;
        map[_lastPacketId] = delivery;
    }

    /// <summary>Tracks a delivery restored at start-up with its packet id and send order as stored.</summary>
    public void Restore(Delivery delivery)
    {
        _lastSendOrder = Math.Max(_lastSendOrder, delivery.SendOrder);
        (_byPacketId ??= [])[delivery.PacketId] = delivery;
    }

    public readonly bool TryGet(ushort packetId, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Delivery? delivery)
    {
        if (_byPacketId is { } map)
        {
            return map.TryGetValue(packetId, out delivery);
        }

        delivery = null;
        return false;
    }

    public readonly bool Remove(ushort packetId) => _byPacketId?.Remove(packetId) ?? false;

    /// <summary>The deliveries in the order they were first sent (for the resend after a reconnect); null when none.</summary>
    public readonly List<Delivery>? InSendOrder()
    {
        if (_byPacketId is not { Count: > 0 } map)
        {
            return null;
        }

        var ordered = new List<Delivery>(map.Values);
        ordered.Sort(static (a, b) => a.SendOrder.CompareTo(b.SendOrder));
        return ordered;
    }

    /// <summary>Removes every delivery <paramref name="match"/> selects, adding each to <paramref name="removed"/>; returns how many.</summary>
    public readonly int RemoveAll(Func<Delivery, bool> match, List<Delivery> removed)
    {
        if (_byPacketId is not { Count: > 0 } map)
        {
            return 0;
        }

        var first = removed.Count;
        foreach (var delivery in map.Values)
        {
            if (match(delivery))
            {
                removed.Add(delivery);
            }
        }

        for (var i = first; i < removed.Count; i++)
        {
            map.Remove(removed[i].PacketId);
        }

        return removed.Count - first;
    }

    /// <summary>Drops the map when it is empty (the next QoS 1/2 send recreates it).</summary>
    public void TrimIfEmpty()
    {
        if (_byPacketId is { Count: 0 })
        {
            _byPacketId = null;
        }
    }

    /// <summary>Forgets every delivery (the session ends or starts clean).</summary>
    public void Clear() => _byPacketId = null;
}
