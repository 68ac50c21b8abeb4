namespace Iot.Routing.Internal;

/// <summary>One <see cref="AsyncSignal"/> per subscription: enqueues wake the subscription's delivery loop or pull receivers.</summary>
internal sealed class DeliverySignals
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, AsyncSignal> _signals = new(StringComparer.Ordinal);

    public AsyncSignal For(string subscription) => _signals.GetOrAdd(subscription, static _ => new AsyncSignal());

    public void Set(string subscription)
    {
        if (_signals.TryGetValue(subscription, out var signal))
        {
            signal.Set();
        }
    }

    public void Remove(string subscription) => _signals.TryRemove(subscription, out _);
}
