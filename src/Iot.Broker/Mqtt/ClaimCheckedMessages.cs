using System.Runtime.CompilerServices;
using Iot.Routing.ClaimCheck;
using MQTTnet.Packets;

namespace Iot.Broker.Mqtt;

/// <summary>
/// A claim-checked publish is dispatched as its reference (<see cref="ClaimCheckReference"/>); the original message stays
/// attached to the reference in memory while the dispatch runs, so that a subscription that asked to resolve
/// (<see cref="Subscription.ResolveClaimCheck"/>) is handed the original without reading the blob back. Nothing is added
/// to <see cref="BrokerMessage"/>: every other message pays one bool test per subscription.
/// </summary>
internal static class ClaimCheckedMessages
{
    /// <summary>The SUBSCRIBE user property value that asks for resolved payloads.</summary>
    public const string ResolveValue = "resolve";

    private static readonly ConditionalWeakTable<BrokerMessage, BrokerMessage> Originals = [];

    /// <summary>Whether a SUBSCRIBE's user properties hold <c>iot-claim-check: resolve</c>.</summary>
    public static bool AsksToResolve(IReadOnlyCollection<MqttUserProperty>? properties)
    {
        if (properties is null)
        {
            return false;
        }

        foreach (var property in properties)
        {
            if (property.Name == ClaimCheckReference.UserProperty && property.ReadValueAsString() == ResolveValue)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The reference message for <paramref name="original"/>, with the original attached.</summary>
    public static BrokerMessage CreateReference(BrokerMessage original, ClaimCheckReference reference)
    {
        var properties = new List<MqttUserProperty>((original.UserProperties?.Count ?? 0) + 1);
        if (original.UserProperties is { } existing)
        {
            properties.AddRange(existing);
        }

        properties.Add(new MqttUserProperty(ClaimCheckReference.UserProperty, System.Text.Encoding.UTF8.GetBytes(reference.Id).AsMemory()));
        var message = new BrokerMessage
        {
            Topic = original.Topic,
            Payload = reference.ToJson(),
            QualityOfService = original.QualityOfService,
            Retain = false,
            ExpiresAtUnixMs = original.ExpiresAtUnixMs,
            ContentType = ClaimCheckReference.ContentType,
            ResponseTopic = original.ResponseTopic,
            CorrelationData = original.CorrelationData,
            PayloadFormatIndicator = 1,
            UserProperties = properties,
            SourceClientId = original.SourceClientId,
            ReceivedAtUnixMs = original.ReceivedAtUnixMs,
        };
        Originals.AddOrUpdate(message, original);
        return message;
    }

    /// <summary>Ends the attachment once the dispatch is done, so that a queued reference does not keep the payload in memory.</summary>
    public static void Detach(BrokerMessage reference) => Originals.Remove(reference);

    /// <summary>
    /// What a subscription gets: the original when it asked to resolve and <paramref name="message"/> is a reference made
    /// here, else the message itself.
    /// </summary>
    public static BrokerMessage For(BrokerMessage message, bool resolve) =>
        resolve && ReferenceEquals(message.ContentType, ClaimCheckReference.ContentType) && Originals.TryGetValue(message, out var original)
            ? original
            : message;
}
