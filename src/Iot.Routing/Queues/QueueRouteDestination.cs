using Iot.Messaging;
using Iot.Routing.Hosting;
using Iot.Routing.Rules;

namespace Iot.Routing.Queues;

/// <summary>
/// The <c>commandQueue</c> route destination: routes send matched messages into a queue, so
/// backends consume device messages as competing consumers. The MQTT topic becomes the subject, user properties the
/// application properties; a queue with sessions gets the device id (from <c>devices/{id}/...</c>) as the session.
/// </summary>
internal sealed class QueueRouteDestination(IQueueStore queues, RoutingMetrics metrics) : IRouteDestination
{
    /// <summary>The kind routes name this destination by.</summary>
    public const string DestinationKind = "commandQueue";

    /// <inheritdoc/>
    public string Kind => DestinationKind;

    /// <inheritdoc/>
    public bool IsValidTarget(string? name) => name is not null && !name.StartsWith('$') && queues.FindQueue(name) is not null;

    /// <inheritdoc/>
    public Task DeliverAsync(IRoutedEvent delivered, IReadOnlyList<string?> targets)
    {
        ArgumentNullException.ThrowIfNull(delivered);
        ArgumentNullException.ThrowIfNull(targets);
        var routedEvent = RoutedEvent.Of(delivered);
        // The event id travels as a property, not as the message id: a fresh id never repeats, so remembering it for
        // duplicate detection would only cost a write per message.
        var properties = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["id"] = routedEvent.Id,
            ["source"] = routedEvent.Source,
            ["type"] = routedEvent.Type,
        };
        foreach (var (key, value) in routedEvent.UserProperties)
        {
            properties[key] = value;
        }

        var body = routedEvent.IsPosted ? routedEvent.Encode().ToArray() : routedEvent.Payload.ToArray();
        var contentType = routedEvent.IsPosted ? "application/cloudevents+json" : routedEvent.ContentType;
        List<Task>? tasks = null;
        foreach (var name in targets)
        {
            if (name is null || queues.FindQueue(name) is not { } queue)
            {
                metrics.Add(RoutingCounter.Dropped, 1);
                continue;
            }

            var message = new QueueMessage
            {
                Body = body,
                SessionId = queue.RequiresSession ? SessionOf(routedEvent.Topic) : null,
                Subject = routedEvent.Topic,
                ContentType = contentType,
                ApplicationProperties = properties,
            };
            (tasks ??= []).Add(queues.SendAsync(name, [message]));
        }

        return tasks is null ? Task.CompletedTask : Task.WhenAll(tasks);
    }

    private static string SessionOf(string topic)
    {
        if (topic.StartsWith("devices/", StringComparison.Ordinal))
        {
            var rest = topic.AsSpan("devices/".Length);
            var slash = rest.IndexOf('/');
            var deviceId = slash < 0 ? rest : rest[..slash];
            return deviceId.IsEmpty ? topic : deviceId.ToString();
        }

        return topic;
    }
}
