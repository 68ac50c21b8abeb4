namespace Iot.Broker.Mqtt;

/// <summary>
/// The deliveries a session holds back: while its client is offline, or while the in-flight window is full (a QoS 0
/// delivery waits behind them to keep the order). Bounded by <see cref="MqttOptions.MaxQueuedMessages"/>, which the
/// session passes to <see cref="TryEnqueue"/>. Modelled on EMQX's <c>emqx_mqueue</c>.
/// </summary>
/// <remarks>
/// A mutable struct embedded in its <see cref="MqttSession"/> and never copied; not thread-safe: the session's lock
/// guards it. The queue is created by the first delivery held back and dropped again, once empty, by
/// <see cref="TrimIfEmpty"/> (an idle session holds none); it is not dropped when it empties on the hot path, so a
/// busy subscriber does not allocate it again and again.
/// </remarks>
internal struct PendingQueue
{
    private Queue<Delivery>? _items;

    public readonly int Count => _items?.Count ?? 0;

    public readonly bool IsEmpty => Count == 0;

    /// <summary>Whether the queue exists (may be read without the lock: a stale answer only delays a trim).</summary>
    public readonly bool IsAllocated => _items is not null;

    /// <summary>Queues <paramref name="delivery"/>; false (nothing queued) when <paramref name="limit"/> deliveries wait already.</summary>
    public bool TryEnqueue(Delivery delivery, int limit)
    {
        if (Count >= limit)
        {
            return false;
        }

        (_items ??= new Queue<Delivery>(4)).Enqueue(delivery);
        return true;
    }

    /// <summary>
    /// Queues <paramref name="delivery"/> without a limit: the caller checked it before (a QoS 1/2 delivery is refused
    /// before it is stored), or none applies (a device command; a delivery restored at start-up, kept as stored).
    /// </summary>
    public void Add(Delivery delivery) => (_items ??= new Queue<Delivery>(4)).Enqueue(delivery);

    public readonly bool TryPeek([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Delivery? delivery)
    {
        if (_items is { Count: > 0 } items)
        {
            delivery = items.Peek();
            return true;
        }

        delivery = null;
        return false;
    }

    /// <summary>Removes the delivery <see cref="TryPeek"/> returned.</summary>
    public readonly void Dequeue() => _items!.Dequeue();

    /// <summary>Removes every delivery <paramref name="match"/> selects, keeping the order of the rest; returns how many.</summary>
    public readonly int RemoveAll(Func<Delivery, bool> match, List<Delivery>? removed = null)
    {
        if (_items is not { Count: > 0 } items)
        {
            return 0;
        }

        var count = items.Count;
        var dropped = 0;
        for (var i = 0; i < count; i++)
        {
            var delivery = items.Dequeue();
            if (match(delivery))
            {
                removed?.Add(delivery);
                dropped++;
            }
            else
            {
                items.Enqueue(delivery);
            }
        }

        return dropped;
    }

    /// <summary>Drops the queue when it is empty.</summary>
    public void TrimIfEmpty()
    {
        if (_items is { Count: 0 })
        {
            _items = null;
        }
    }

    public void Clear() => _items = null;
}
