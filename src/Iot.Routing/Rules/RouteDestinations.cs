using System.Diagnostics.CodeAnalysis;
using Iot.Messaging;

namespace Iot.Routing.Rules;

/// <summary>
/// The route destinations registered as <see cref="IRouteDestination"/> services, each at a fixed index. A route
/// resolves its <c>destination.kind</c> here once, when it is compiled (<see cref="RouteTable.TryCompile"/>), and the
/// router then reaches the destination by that index: no lookup by name per message. Immutable after construction.
/// </summary>
internal sealed class RouteDestinations
{
    private readonly IRouteDestination[] _all;
    private readonly Dictionary<string, int> _indexByKind;

    public RouteDestinations(IEnumerable<IRouteDestination> destinations)
    {
        ArgumentNullException.ThrowIfNull(destinations);
        _all = [.. destinations];
        // Case-insensitive as the enum it replaces was read from JSON: "Stream" in a stored route or configuration still works.
        _indexByKind = new Dictionary<string, int>(_all.Length, StringComparer.OrdinalIgnoreCase);
        for (int i = 0; i < _all.Length; i++)
        {
            var kind = _all[i].Kind;
            if (string.IsNullOrWhiteSpace(kind))
            {
                throw new InvalidOperationException($"The route destination {_all[i].GetType().Name} has no kind.");
            }

            if (!_indexByKind.TryAdd(kind, i))
            {
                throw new InvalidOperationException(
                    $"Two route destinations declare the kind '{kind}': {_all[_indexByKind[kind]].GetType().Name} and {_all[i].GetType().Name}.");
            }
        }

        Available = string.Join(", ", _all.Select(d => d.Kind));
    }

    /// <summary>Number of destinations; indexes run from 0 to <c>Count - 1</c>.</summary>
    public int Count => _all.Length;

    /// <summary>The registered kinds, comma-separated in registration order (for error messages).</summary>
    public string Available { get; }

    /// <summary>The destination at <paramref name="index"/>.</summary>
    public IRouteDestination this[int index] => _all[index];

    /// <summary>Finds the destination that serves <paramref name="kind"/> (ignoring case) and its index.</summary>
    public bool TryFind(string? kind, out int index, [NotNullWhen(true)] out IRouteDestination? destination)
    {
        if (kind is not null && _indexByKind.TryGetValue(kind, out index))
        {
            destination = _all[index];
            return true;
        }

        index = -1;
        destination = null;
        return false;
    }
}
