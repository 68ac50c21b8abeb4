using System.Collections.Concurrent;
using Iot.Messaging.Crossover;

namespace Iot.TestUtilities;

/// <summary>An <see cref="ICrossoverEvents"/> that keeps what is raised, for detector tests (the real publisher is tested on its own).</summary>
public sealed class RecordingCrossoverEvents : ICrossoverEvents
{
    /// <summary>The events raised, in order.</summary>
    public ConcurrentQueue<CrossoverEvent> Raised { get; } = new();

    /// <inheritdoc/>
    public bool IsEnabled { get; set; } = true;

    /// <summary>The events of one type.</summary>
    public IReadOnlyList<CrossoverEvent> OfType(string type) => [.. Raised.Where(e => e.Type == type)];

    /// <inheritdoc/>
    public bool TryRaise(CrossoverEvent crossoverEvent)
    {
        ArgumentNullException.ThrowIfNull(crossoverEvent);
        Raised.Enqueue(crossoverEvent);
        return true;
    }
}
