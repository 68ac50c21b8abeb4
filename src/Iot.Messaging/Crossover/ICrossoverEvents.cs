namespace Iot.Messaging.Crossover;

/// <summary>
/// Where a service hands its crossover events (implemented by Routing's publisher). Raising never blocks and never
/// throws: the event goes into a bounded queue that a background publisher routes; when that queue is full the event
/// is dropped and counted, so the code that raises it (the MQTT connect path, a queue check) is never slowed.
/// </summary>
public interface ICrossoverEvents
{
    /// <summary>Whether crossover events are on (<c>Iot:Crossover:Enabled</c>); callers may skip building an event when off.</summary>
    bool IsEnabled { get; }

    /// <summary>Queues <paramref name="crossoverEvent"/> for routing; false when it was dropped (queue full, off, or stopping).</summary>
    bool TryRaise(CrossoverEvent crossoverEvent);
}
