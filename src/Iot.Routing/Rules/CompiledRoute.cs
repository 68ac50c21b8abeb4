namespace Iot.Routing.Rules;

/// <summary>A route ready for matching: its definition, compiled conditions and resolved destination.</summary>
internal sealed class CompiledRoute(RouteDefinition definition, CompiledCondition[] conditions, bool isBuiltIn, int destinationIndex)
{
    private long _matched;

    public RouteDefinition Definition { get; } = definition;

    public string Name => Definition.Name;

    public bool IsBuiltIn { get; } = isBuiltIn;

    /// <summary>The index of the route's destination in <see cref="RouteDestinations"/>, resolved when the route was compiled.</summary>
    public int DestinationIndex { get; } = destinationIndex;

    /// <summary>The destination name as the one-element target list the router hands to the destination (read-only).</summary>
    public IReadOnlyList<string?> Targets { get; } = Array.AsReadOnly(new[] { definition.Destination?.Name });

    /// <summary>Messages this route sent to its destination.</summary>
    public long Matched => Interlocked.Read(ref _matched);

    /// <summary>Whether the route is enabled and every condition holds.</summary>
    public bool Matches(RoutedEvent routedEvent)
    {
        if (!Definition.Enabled)
        {
            return false;
        }

        foreach (var condition in conditions)
        {
            if (!condition.Evaluate(routedEvent))
            {
                return false;
            }
        }

        Interlocked.Increment(ref _matched);
        return true;
    }
}
