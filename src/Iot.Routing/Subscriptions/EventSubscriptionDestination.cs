using Iot.Messaging;
using Iot.Messaging.Topics;
using Iot.Routing.Hosting;
using Iot.Routing.Internal;
using Iot.Routing.Rules;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Iot.Routing.Subscriptions;

/// <summary>
/// The <c>eventSubscription</c> route destination: finds the subscriptions whose filter
/// matches, records one delivery per webhook or pull subscription (all in one group commit, which the returned
/// task awaits) and publishes to MQTT destinations.
/// </summary>
internal sealed class EventSubscriptionDestination(EventSubscriptionRegistry registry, IEventDeliveryStore store, DeliverySignals signals,
    RoutingMetrics metrics, TimeProvider timeProvider, IServiceProvider services, ILogger<EventSubscriptionDestination> logger)
    : IRouteDestination
{
    private const string CloudEventsContentType = "application/cloudevents+json";

    [ThreadStatic]
    private static List<CompiledEventSubscription>? t_matches;

    private readonly RateLimitedLog _fullLog = new(TimeSpan.FromMinutes(1), timeProvider);
    private IMqttPublisher? _publisher;

    /// <summary>The kind routes name this destination by (the default of <see cref="RouteTarget.Kind"/>).</summary>
    public const string DestinationKind = "eventSubscription";

    public string Kind => DestinationKind;

    public bool IsValidTarget(string? name) => name is null || RouteTable.IsValidName(name);

    public Task DeliverAsync(IRoutedEvent delivered, IReadOnlyList<string?> targets)
    {
        ArgumentNullException.ThrowIfNull(delivered);
        ArgumentNullException.ThrowIfNull(targets);
        var routedEvent = RoutedEvent.Of(delivered);
        var matches = t_matches ??= [];
        try
        {
            Collect(routedEvent, targets, matches);
            if (matches.Count == 0)
            {
                metrics.Add(RoutingCounter.EventsUnmatched);
                return Task.CompletedTask;
            }

            var encoded = routedEvent.Encode();
            long now = timeProvider.GetUtcNow().ToUnixTimeMilliseconds();
            List<PendingDelivery>? pending = null;
            List<Task>? published = null;
            foreach (var subscription in matches)
            {
                if (subscription.Kind == EventDeliveryKind.Mqtt)
                {
                    (published ??= []).Add(PublishAsync(subscription, encoded));
                    continue;
                }

                long ttl = (long)subscription.Definition.RetryPolicy.EventTtl.TotalMilliseconds;
                (pending ??= []).Add(new PendingDelivery(subscription.Name, routedEvent.Id, encoded, now, now + ttl));
            }

            if (pending is not null)
            {
                (published ??= []).Add(EnqueueAsync(pending));
            }

            return published is null ? Task.CompletedTask : published.Count == 1 ? published[0] : Task.WhenAll(published);
        }
        finally
        {
            matches.Clear();
        }
    }

    private void Collect(RoutedEvent routedEvent, IReadOnlyList<string?> targets, List<CompiledEventSubscription> matches)
    {
        // Indexed loops: a foreach over the IReadOnlyList would allocate an enumerator for every message.
        bool all = false;
        for (var i = 0; i < targets.Count; i++)
        {
            all |= targets[i] is null;
        }

        if (all)
        {
            registry.Match(routedEvent.Topic, matches);
        }
        else
        {
            for (var i = 0; i < targets.Count; i++)
            {
                if (registry.TryGet(targets[i]!, out var subscription)
                    && TopicNames.Matches(routedEvent.Topic, subscription.Definition.Filter.TopicFilter))
                {
                    matches.Add(subscription);
                }
            }
        }

        int kept = 0;
        for (int i = 0; i < matches.Count; i++)
        {
            if (matches[i].Matches(routedEvent))
            {
                matches[kept++] = matches[i];
            }
        }

        matches.RemoveRange(kept, matches.Count - kept);
    }

    private async Task EnqueueAsync(List<PendingDelivery> pending)
    {
        // A full subscription loses this event alone: the publisher is acknowledged and the others get it.
        var full = await store.EnqueueAsync(pending).ConfigureAwait(false);
        metrics.Add(RoutingCounter.DeliveriesEnqueued, pending.Count - (full?.Count ?? 0));
        foreach (var delivery in pending)
        {
            signals.Set(delivery.Subscription);
        }

        if (full is not null)
        {
            metrics.Add(RoutingCounter.SubscriptionFullDropped, full.Count);
            foreach (var name in full)
            {
                if (_fullLog.ShouldLog(name, timeProvider.GetTimestamp(), out long suppressed))
                {
                    RoutingLog.SubscriptionFull(logger, name, store.MaxPendingEvents, store.MaxPendingBytes, suppressed);
                }
            }
        }
    }

    private async Task PublishAsync(CompiledEventSubscription subscription, ReadOnlyMemory<byte> encoded)
    {
        var publisher = _publisher ??= services.GetService<IMqttPublisher>();
        if (publisher is null)
        {
            RoutingLog.NoMqttPublisher(logger, subscription.Name);
            metrics.Add(RoutingCounter.Dropped, 1);
            return;
        }

        var destination = subscription.Definition.Destination;
        if (destination.Topic!.StartsWith('$'))
        {
            // Refused at creation since issue 16; a subscription stored before may still name one.
            RoutingLog.MqttDestinationRefused(logger, subscription.Name, LogSafe.Escape(destination.Topic));
            metrics.Add(RoutingCounter.Dropped, 1);
            return;
        }

        try
        {
            await publisher.PublishAsync(destination.Topic!, encoded, destination.QualityOfService, retain: false,
                contentType: CloudEventsContentType).ConfigureAwait(false);
            metrics.Add(RoutingCounter.MqttDeliveries);
        }
#pragma warning disable CA1031 // An MQTT destination's failure must not fail the publisher of the original message.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            RoutingLog.MqttDeliveryFailed(logger, subscription.Name, destination.Topic!, ex);
            metrics.Add(RoutingCounter.Dropped, 1);
        }
    }
}
