using System.Text.Json;
using System.Text.Json.Nodes;
using Iot.Messaging.Crossover;
using Iot.Routing.Internal;
using Microsoft.Extensions.Options;

namespace Iot.Routing.Crossover;

/// <summary>
/// Raises <see cref="CrossoverTypes.SubscriptionDeliveriesDeadLettered"/> when a webhook subscription gives deliveries
/// up (dead-lettered, or dropped when its dead-lettering is off), at most once per subscription per
/// <see cref="CrossoverOptions.RepeatPeriod"/>.
/// </summary>
/// <remarks>
/// Deliveries of crossover events never raise it: a subscription of crossover events whose endpoint is down would
/// otherwise dead-letter the event about its own dead letters, and so on, one event per period for ever.
/// </remarks>
internal sealed class SubscriptionCrossover(ICrossoverEvents events, IOptions<CrossoverOptions> options, TimeProvider timeProvider)
{
    private readonly CrossoverThrottle _throttle = new(options.Value.RepeatPeriod, timeProvider);

    /// <summary>The loop of <paramref name="subscription"/> gave <paramref name="deliveries"/> up.</summary>
    public void GaveUp(string subscription, IReadOnlyList<DeliveryRecord> deliveries, string reason, string? lastOutcome, bool deadLettered)
    {
        if (!events.IsEnabled)
        {
            return;
        }

        int count = deliveries.Count(d => !CrossoverTypes.IsCrossover(TypeOf(d.Event)));
        if (count == 0 || !_throttle.TryAcquire(subscription))
        {
            return;
        }

        events.TryRaise(new CrossoverEvent(CrossoverTypes.SubscriptionDeliveriesDeadLettered, "/iot/subscriptions",
            CrossoverTypes.SubjectPrefix + "subscriptions/" + subscription, new JsonObject
            {
                ["subscription"] = subscription,
                ["eventCount"] = count,
                ["reason"] = reason,
                ["lastOutcome"] = lastOutcome,
                ["deadLettered"] = deadLettered,
            }, timeProvider.GetUtcNow()));
    }

    /// <summary>The top-level <c>type</c> of a stored structured-mode CloudEvent; null when it has none or is not JSON.</summary>
    internal static string? TypeOf(ReadOnlySpan<byte> cloudEvent)
    {
        try
        {
            var reader = new Utf8JsonReader(cloudEvent);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                bool isType = reader.ValueTextEquals("type"u8);
                reader.Read();
                if (isType)
                {
                    return reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }

                reader.Skip();
            }
        }
        catch (JsonException)
        {
            // Not JSON: not a crossover event.
        }

        return null;
    }
}
