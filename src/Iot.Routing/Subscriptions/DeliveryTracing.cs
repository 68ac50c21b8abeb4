using System.Diagnostics;
using System.Text.Json;
using Iot.Messaging.Telemetry;

namespace Iot.Routing.Subscriptions;

/// <summary>
/// The <c>deliver</c> span of a webhook request: a child of the first event's trace context (its CloudEvents
/// <c>traceparent</c>, set when it was routed), linked to the others of a batch. The HTTP request below it carries the
/// context to the endpoint in the <c>traceparent</c> header (HttpClient's own propagation).
/// </summary>
internal static class DeliveryTracing
{
    private const int MaxLinks = 32;

    /// <summary>Starts the span; null when nothing listens.</summary>
    public static Activity? Start(string subscription, Uri endpoint, IReadOnlyList<byte[]> events, int attempt)
    {
        if (!IotTracing.Enabled)
        {
            return null;
        }

        var parent = events.Count > 0 ? ContextOf(events[0]) : default;
        List<ActivityLink>? links = null;
        for (int i = 1; i < events.Count && i <= MaxLinks; i++)
        {
            if (ContextOf(events[i]) is var context && context != default)
            {
                (links ??= []).Add(new ActivityLink(context));
            }
        }

        var activity = IotTracing.Source.StartActivity(ActivityKind.Producer, parent, links: links, name: "deliver " + subscription);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("iot.subscription", subscription);
            activity.SetTag("url.full", endpoint.GetLeftPart(UriPartial.Path));
            activity.SetTag("messaging.batch.message_count", events.Count);
            activity.SetTag("iot.delivery.attempt", attempt);
        }

        return activity;
    }

    /// <summary>The W3C context in a structured CloudEvent's top-level <c>traceparent</c>/<c>tracestate</c>; default when none.</summary>
    internal static ActivityContext ContextOf(ReadOnlySpan<byte> cloudEvent)
    {
        string? parent = null;
        string? state = null;
        try
        {
            var reader = new Utf8JsonReader(cloudEvent);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return default;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isParent = reader.ValueTextEquals(IotTracing.TraceParent);
                var isState = !isParent && reader.ValueTextEquals(IotTracing.TraceState);
                reader.Read();
                if ((isParent || isState) && reader.TokenType == JsonTokenType.String)
                {
                    if (isParent)
                    {
                        parent = reader.GetString();
                    }
                    else
                    {
                        state = reader.GetString();
                    }
                }
                else
                {
                    reader.Skip();
                }
            }
        }
        catch (JsonException)
        {
            return default;
        }

        return parent is not null && ActivityContext.TryParse(parent, state, isRemote: true, out var context) ? context : default;
    }
}
