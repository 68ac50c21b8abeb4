using CloudNative.CloudEvents;
using Iot.Routing.Commands;
using Iot.Routing.Hosting;

namespace Iot.Routing.Rules;

/// <summary>
/// The broker's <see cref="IMessageRouter"/>: matches each message against the route table, evaluates the matched
/// routes' conditions and hands the message once to each destination kind with the distinct target names.
/// Device answers to commands are shown to the command service first (<see cref="ICommandResponseObserver"/>).
/// </summary>
internal sealed class MessageRouter(RouteTable routes, IEnumerable<IRouteDestination> destinations, RoutingMetrics metrics,
    TimeProvider timeProvider, ICommandResponseObserver? commandResponses = null) : IMessageRouter
{
    [ThreadStatic]
    private static List<CompiledRoute>? t_matches;

    private readonly IRouteDestination?[] _destinations = ByKind(destinations);

    /// <inheritdoc/>
    public Task RouteAsync(RoutedMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (commandResponses?.Observe(message) is { } answerRecorded)
        {
            var routed = Route(message);
            return routed.IsCompletedSuccessfully ? answerRecorded : Task.WhenAll(answerRecorded, routed);
        }

        return Route(message);
    }

    private Task Route(RoutedMessage message)
    {
        var matches = t_matches ??= [];
        try
        {
            routes.Match(message.Topic, matches);
            if (matches.Count == 0)
            {
                metrics.MessageUnrouted();
                return Task.CompletedTask;
            }

            using var routedEvent = RoutedEvent.FromMessage(message, timeProvider);
            return Dispatch(routedEvent, matches);
        }
        finally
        {
            matches.Clear();
        }
    }

    /// <summary>Routes CloudEvents posted to the API by their subject; completes when they are durably recorded.</summary>
    public Task PublishAsync(IReadOnlyList<CloudEvent> cloudEvents)
    {
        ArgumentNullException.ThrowIfNull(cloudEvents);
        var tasks = new List<Task>(cloudEvents.Count);
        var matches = new List<CompiledRoute>();
        foreach (var cloudEvent in cloudEvents)
        {
            metrics.EventPosted();
            using var routedEvent = RoutedEvent.FromCloudEvent(cloudEvent, timeProvider);
            routes.Match(routedEvent.Topic, matches);
            tasks.Add(matches.Count == 0 ? Unrouted() : Dispatch(routedEvent, matches));
            matches.Clear();
        }

        return Task.WhenAll(tasks);
    }

    private Task Unrouted()
    {
        metrics.MessageUnrouted();
        return Task.CompletedTask;
    }

    private Task Dispatch(RoutedEvent routedEvent, List<CompiledRoute> matches)
    {
        List<string?>?[]? targets = null;
        foreach (var route in matches)
        {
            if (!route.Matches(routedEvent))
            {
                continue;
            }

            targets ??= new List<string?>?[_destinations.Length];
            var destination = route.Definition.Destination;
            var list = targets[(int)destination.Kind] ??= [];
            if (!list.Contains(destination.Name))
            {
                list.Add(destination.Name);
            }
        }

        if (targets is null)
        {
            metrics.MessageUnrouted();
            return Task.CompletedTask;
        }

        metrics.MessageRouted();
        Task? single = null;
        List<Task>? many = null;
        for (int kind = 0; kind < targets.Length; kind++)
        {
            if (targets[kind] is not { } names)
            {
                continue;
            }

            if (_destinations[kind] is not { } destination)
            {
                metrics.DroppedEvents(1);
                continue;
            }

            Task task;
            try
            {
                task = destination.DeliverAsync(routedEvent, names);
            }
#pragma warning disable CA1031 // A failing destination fails this message's acknowledgement, not the publisher's connection.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                task = Task.FromException(ex);
            }

            if (task.IsCompletedSuccessfully)
            {
                continue;
            }

            if (single is null)
            {
                single = task;
            }
            else
            {
                (many ??= [single]).Add(task);
            }
        }

        return many is not null ? Task.WhenAll(many) : single ?? Task.CompletedTask;
    }

    private static IRouteDestination?[] ByKind(IEnumerable<IRouteDestination> destinations)
    {
        var result = new IRouteDestination?[Enum.GetValues<RouteDestinationKind>().Length];
        foreach (var destination in destinations)
        {
            result[(int)destination.Kind] = destination;
        }

        return result;
    }
}
