using System.Diagnostics;
using CloudNative.CloudEvents;
using Iot.Messaging;
using Iot.Messaging.Telemetry;
using Iot.Routing.Commands;
using Iot.Routing.Hosting;

namespace Iot.Routing.Rules;

/// <summary>
/// The broker's <see cref="IMessageRouter"/>: matches each message against the route table, evaluates the matched
/// routes' conditions and hands the message once to each destination with the distinct target names. Each route
/// knows its destination's index in <see cref="RouteTable.Destinations"/> from compilation, so the per-message path
/// looks nothing up by name. Device answers to commands are shown to the command service first
/// (<see cref="ICommandResponseObserver"/>).
/// </summary>
internal sealed class MessageRouter(RouteTable routes, RoutingMetrics metrics, TimeProvider timeProvider,
    ICommandResponseObserver? commandResponses = null) : IMessageRouter
{
    [ThreadStatic]
    private static List<CompiledRoute>? t_matches;

    private readonly RouteDestinations _destinations = routes.Destinations;

    /// <inheritdoc/>
    public Task RouteAsync(IRoutedMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (commandResponses?.Observe(message) is { } answerRecorded)
        {
            var routed = Route(message);
            return routed.IsCompletedSuccessfully ? answerRecorded : Task.WhenAll(answerRecorded, routed);
        }

        return Route(message);
    }

    private Task Route(IRoutedMessage message) => IotTracing.Enabled ? RouteTraced(message) : RouteCore(message);

    /// <summary>
    /// <see cref="RouteCore"/> in a <c>route</c> span (child of the broker's <c>publish</c> span, or of the message's
    /// own context), with one <c>send</c> span per destination below it; each ends when its durable write does.
    /// </summary>
    private Task RouteTraced(IRoutedMessage message)
    {
        var previous = Activity.Current;
        if (IotTracing.StartFor("route", ActivityKind.Internal, message) is not { } activity)
        {
            return RouteCore(message);
        }

        return IotTracing.Run(activity, previous, (Router: this, Message: message), static s => s.Router.RouteCore(s.Message));
    }

    private Task RouteCore(IRoutedMessage message)
    {
        var matches = t_matches ??= [];
        try
        {
            routes.Match(message.Topic, matches);
            if (matches.Count == 0)
            {
                metrics.Add(RoutingCounter.MessagesUnrouted);
                return Task.CompletedTask;
            }

            var routedEvent = RoutedEvent.RentForMessage(message, timeProvider);
            try
            {
                return Dispatch(routedEvent, matches);
            }
            finally
            {
                routedEvent.Return();
            }
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
            metrics.Add(RoutingCounter.EventsPosted);
            using var routedEvent = RoutedEvent.FromCloudEvent(cloudEvent, timeProvider);
            routes.Match(routedEvent.Topic, matches);
            tasks.Add(matches.Count == 0 ? Unrouted() : Dispatch(routedEvent, matches));
            matches.Clear();
        }

        return Task.WhenAll(tasks);
    }

    private Task Unrouted()
    {
        metrics.Add(RoutingCounter.MessagesUnrouted);
        return Task.CompletedTask;
    }

    private Task Dispatch(RoutedEvent routedEvent, List<CompiledRoute> matches)
    {
        // Per destination, the distinct target names. One matching route per destination (the common case: the default
        // route and the telemetry stream route) passes the route's own one-name list, so routing a message allocates
        // nothing here; the per-destination slots are on the stack unless more destinations exist than it holds.
        var buffer = default(TargetsBuffer);
        Span<IReadOnlyList<string?>?> targets = _destinations.Count <= TargetsBuffer.Length
            ? ((Span<IReadOnlyList<string?>?>)buffer)[.._destinations.Count]
            : new IReadOnlyList<string?>?[_destinations.Count];
        var any = false;
        foreach (var route in matches)
        {
            if (!route.Matches(routedEvent))
            {
                continue;
            }

            any = true;
            var destination = route.Definition.Destination;
            ref var names = ref targets[route.DestinationIndex];
            if (names is null)
            {
                names = route.Targets;
            }
            else if (!names.Contains(destination.Name))
            {
                var list = names as List<string?> ?? [.. names];
                list.Add(destination.Name);
                names = list;
            }
        }

        if (!any)
        {
            metrics.Add(RoutingCounter.MessagesUnrouted);
            return Task.CompletedTask;
        }

        metrics.Add(RoutingCounter.MessagesRouted);
        Task? single = null;
        List<Task>? many = null;
        for (int index = 0; index < targets.Length; index++)
        {
            if (targets[index] is not { } names)
            {
                continue;
            }

            var destination = _destinations[index];
            Task task;
            try
            {
                task = IotTracing.Enabled ? DeliverTraced(destination, routedEvent, names) : destination.DeliverAsync(routedEvent, names);
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

    /// <summary>One destination's hand-over in a <c>send</c> span (a producer: the message goes into a queue, stream or subscription).</summary>
    private static Task DeliverTraced(IRouteDestination destination, RoutedEvent routedEvent, IReadOnlyList<string?> names)
    {
        var previous = Activity.Current;
        var activity = IotTracing.Source.StartActivity("send " + destination.Kind, ActivityKind.Producer);
        if (activity is null)
        {
            return destination.DeliverAsync(routedEvent, names);
        }

        activity.SetTag("iot.destination.kind", destination.Kind);
        activity.SetTag("iot.destination.targets", string.Join(",", names.Select(n => n ?? "*")));
        return IotTracing.Run(activity, previous, (Destination: destination, Event: routedEvent, Names: names),
            static s => s.Destination.DeliverAsync(s.Event, s.Names));
    }

    /// <summary>The target names per destination of one message, on the stack.</summary>
    [System.Runtime.CompilerServices.InlineArray(Length)]
    private struct TargetsBuffer
    {
        /// <summary>Destinations that fit; the platform registers three (event subscriptions, queues, streams).</summary>
        public const int Length = 8;

        private IReadOnlyList<string?>? _element;
    }
}
