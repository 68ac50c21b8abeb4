using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Iot.Messaging;
using Iot.Messaging.Topics;
using Iot.Routing.Internal;

namespace Iot.Routing.Rules;

/// <summary>Result of creating, replacing or deleting a route or subscription through the API.</summary>
internal enum ChangeOutcome
{
    Created,
    Replaced,
    Deleted,
    NotFound,
    Invalid,
    ReadOnly,
}

/// <summary>
/// The routes in force: built-in, from configuration (<c>Iot:Routing:Routes</c>, read-only through the API) and
/// from the API (stored in <see cref="IRoutingDefinitionStore"/>). Matching is a <see cref="TopicTree{T}"/> lookup by topic;
/// changes are stored first, then swapped into the tree, so they take effect at once and survive a restart.
/// </summary>
internal sealed partial class RouteTable : IDisposable
{
    /// <summary>The built-in route that offers every message to the event subscriptions.</summary>
    public const string DefaultRouteName = "$default";

    /// <summary>
    /// The built-in route that offers the platform's crossover events (subjects under <c>$iot/</c>, which <c>#</c> does
    /// not match) to the event subscriptions; in force with <see cref="DefaultRouteName"/>.
    /// </summary>
    public const string CrossoverRouteName = "$crossover";

    private const string Table = "routes";
    private readonly TopicTree<CompiledRoute> _tree = new();
    private readonly ConcurrentDictionary<string, CompiledRoute> _routes = new(StringComparer.Ordinal);
    private readonly HashSet<string> _readOnly = new(StringComparer.Ordinal);
    private readonly IRoutingDefinitionStore _store;
    private readonly SemaphoreSlim _writeLock = new(1, 1);

    public RouteTable(IRoutingDefinitionStore store, IEnumerable<IRouteDestination> destinations, IEnumerable<RouteDefinition> configured, bool defaultRoute)
    {
        _store = store;
        Destinations = new RouteDestinations(destinations);
        foreach (var (name, json) in store.ReadDefinitions(Table))
        {
            // One unreadable row costs that route only; the start-up log names it (IRoutingDefinitionStore.SkippedDefinitions).
            string? error = null;
            try
            {
                var definition = JsonSerializer.Deserialize<RouteDefinition>(json, RoutingJson.Options);
                if (definition is not null && TryCompile(definition, isBuiltIn: false, out var route, out error))
                {
                    Apply(null, route);
                    continue;
                }

                error ??= "the definition is null";
            }
            catch (JsonException ex)
            {
                error = ex.Message;
            }

            store.SkippedDefinitions.Enqueue((Table, name, error));
        }

        int index = 0;
        foreach (var definition in configured)
        {
            if (!TryCompile(definition, isBuiltIn: false, out var route, out var error))
            {
                throw new InvalidOperationException($"Iot:Routing:Routes:{index}: {error}");
            }

            _routes.TryGetValue(route.Name, out var stored);
            Apply(stored, route);
            _readOnly.Add(route.Name);
            index++;
        }

        if (defaultRoute)
        {
            foreach (var (name, source) in new[] { (DefaultRouteName, "#"), (CrossoverRouteName, Iot.Messaging.Crossover.CrossoverTypes.SubjectPrefix + "#") })
            {
                TryCompile(new RouteDefinition { Name = name, Source = source }, isBuiltIn: true, out var route, out _);
                Apply(null, route!);
                _readOnly.Add(name);
            }
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _writeLock.Dispose();

    /// <summary>The registered destinations; a compiled route refers to its own by index.</summary>
    public RouteDestinations Destinations { get; }

    /// <summary>Number of routes.</summary>
    public int Count => _routes.Count;

    /// <summary>All routes, by name.</summary>
    public IReadOnlyList<CompiledRoute> All => [.. _routes.Values.OrderBy(r => r.Name, StringComparer.Ordinal)];

    /// <summary>Finds a route by name.</summary>
    public bool TryGet(string name, [NotNullWhen(true)] out CompiledRoute? route) => _routes.TryGetValue(name, out route);

    /// <summary>Whether the route is built in or from configuration.</summary>
    public bool IsReadOnly(string name) => _readOnly.Contains(name);

    /// <summary>Adds the routes whose source filter matches <paramref name="topic"/> to <paramref name="results"/>.</summary>
    public void Match(string topic, List<CompiledRoute> results) => _tree.Match(topic, results);

    /// <summary>Creates or replaces a route defined through the API.</summary>
    public async Task<(ChangeOutcome Outcome, string? Error)> UpsertAsync(RouteDefinition definition)
    {
        if (!TryCompile(definition, isBuiltIn: false, out var route, out var error))
        {
            return (ChangeOutcome.Invalid, error);
        }

        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_readOnly.Contains(route.Name))
            {
                return (ChangeOutcome.ReadOnly, $"The route '{route.Name}' is built in or defined in configuration (Iot:Routing:Routes); change it there.");
            }

            await _store.SaveDefinitionAsync(Table, route.Name, JsonSerializer.Serialize(definition, RoutingJson.Options)).ConfigureAwait(false);
            _routes.TryGetValue(route.Name, out var previous);
            Apply(previous, route);
            return (previous is null ? ChangeOutcome.Created : ChangeOutcome.Replaced, null);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Deletes a route defined through the API.</summary>
    public async Task<(ChangeOutcome Outcome, string? Error)> DeleteAsync(string name)
    {
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_readOnly.Contains(name))
            {
                return (ChangeOutcome.ReadOnly, $"The route '{name}' is built in or defined in configuration (Iot:Routing:Routes); change it there.");
            }

            if (!_routes.TryGetValue(name, out var route))
            {
                return (ChangeOutcome.NotFound, $"There is no route named '{name}'.");
            }

            await _store.DeleteDefinitionAsync(Table, name).ConfigureAwait(false);
            _routes.TryRemove(name, out _);
            _tree.Remove(route.Definition.Source, route);
            return (ChangeOutcome.Deleted, null);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>
    /// Applies a route as another node stored it (cluster mode; <paramref name="definition"/> null: deleted), under the
    /// write lock, so it cannot overtake this node's own write of the same route: <paramref name="isSuperseded"/> (a
    /// lookup, called under the lock) says this node stored that route at the same revision or later, which is then in
    /// force already. Routes from configuration and built-in ones stay as they are. The error when it cannot be applied.
    /// </summary>
    public async Task<string?> ApplyStoredAsync(string name, string? definition, Func<bool> isSuperseded)
    {
        ArgumentNullException.ThrowIfNull(isSuperseded);
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (isSuperseded() || _readOnly.Contains(name))
            {
                return null;
            }

            _routes.TryGetValue(name, out var previous);
            if (definition is null)
            {
                if (previous is not null)
                {
                    _routes.TryRemove(name, out _);
                    _tree.Remove(previous.Definition.Source, previous);
                }

                return null;
            }

            RouteDefinition? parsed;
            try
            {
                parsed = JsonSerializer.Deserialize<RouteDefinition>(definition, RoutingJson.Options);
            }
            catch (JsonException ex)
            {
                return ex.Message;
            }

            if (parsed is not null && parsed.Name != name)
            {
                return $"the definition's name '{parsed.Name}' differs from its key's '{name}'";
            }

            if (!TryCompile(parsed, isBuiltIn: false, out var route, out var error))
            {
                return error;
            }

            // The same definition again (this node's own write coming back, or a reload): nothing changes.
            if (previous is null || JsonSerializer.Serialize(previous.Definition, RoutingJson.Options) != JsonSerializer.Serialize(route.Definition, RoutingJson.Options))
            {
                Apply(previous, route);
            }

            return null;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Checks a definition and compiles its conditions; the error names the offending field.</summary>
    public bool TryCompile(RouteDefinition? definition, bool isBuiltIn, [NotNullWhen(true)] out CompiledRoute? route,
        [NotNullWhen(false)] out string? error)
    {
        route = null;
        if (definition is null)
        {
            error = "The route is missing.";
            return false;
        }

        if (!isBuiltIn && !IsValidName(definition.Name))
        {
            error = $"name '{definition.Name}' is invalid: " + ResourceNames.Validate(definition.Name, "name");
            return false;
        }

        if (!TopicNames.IsValidTopicFilter(definition.Source) || TopicNames.IsSharedSubscription(definition.Source))
        {
            error = $"source '{definition.Source}' is not a valid MQTT topic filter (shared subscriptions are not allowed).";
            return false;
        }

        definition.Destination ??= new RouteTarget();
        if (!Destinations.TryFind(definition.Destination.Kind, out var destinationIndex, out var destination))
        {
            error = string.IsNullOrEmpty(definition.Destination.Kind)
                ? $"destination.kind is required (available: {Destinations.Available})."
                : $"destination.kind '{definition.Destination.Kind}' is not a known destination (available: {Destinations.Available}).";
            return false;
        }

        // Stored and shown as the destination spells its kind, whatever the case it was written in.
        definition.Destination.Kind = destination.Kind;
        if (!destination.IsValidTarget(definition.Destination.Name))
        {
            error = $"destination.name '{definition.Destination.Name}' is not a valid {destination.Kind} name.";
            return false;
        }

        if (!ConditionCompiler.TryCompile(definition.Conditions, out var conditions, out error))
        {
            return false;
        }

        route = new CompiledRoute(definition, conditions, isBuiltIn, destinationIndex);
        return true;
    }

    /// <summary>Route, subscription and queue names: the platform's one set of ids (<see cref="ResourceNames"/>).</summary>
    public static bool IsValidName([NotNullWhen(true)] string? name) => name is not null && ResourceNames.IsValid(name);

    // The new route is matchable before the old one goes: a concurrent message sees at least one of them.
    private void Apply(CompiledRoute? previous, CompiledRoute route)
    {
        _tree.Add(route.Definition.Source, route);
        _routes[route.Name] = route;
        if (previous is not null)
        {
            _tree.Remove(previous.Definition.Source, previous);
        }
    }
}
