using Iot.Messaging;
using MQTTnet.Packets;

namespace Iot.Broker.Mqtt;

/// <summary>
/// An application message as the broker holds it: immutable once received, shared by every subscriber it is
/// delivered to, and what the session store persists. Times are Unix milliseconds so that they survive a restart.
/// It is also what the routing layer is handed (<see cref="IRoutedMessage"/>), so routing a publish copies nothing.
/// </summary>
internal sealed class BrokerMessage : IRoutedMessage
{
    public required string Topic { get; init; }

    public required ReadOnlyMemory<byte> Payload { get; init; }

    /// <summary>The QoS the publisher used (0, 1 or 2).</summary>
    public byte QualityOfService { get; init; }

    /// <summary>The RETAIN flag the publisher set.</summary>
    public bool Retain { get; init; }

    /// <summary>Absolute expiry in Unix milliseconds; 0 when the message never expires.</summary>
    public long ExpiresAtUnixMs { get; init; }

    public string? ContentType { get; init; }

    public string? ResponseTopic { get; init; }

    public byte[]? CorrelationData { get; init; }

    /// <summary>MQTT 5 payload format indicator: 0 unspecified bytes, 1 UTF-8.</summary>
    public byte PayloadFormatIndicator { get; init; }

    public IReadOnlyList<MqttUserProperty>? UserProperties { get; init; }

    /// <summary>Client id of the publisher; null for messages injected by the broker itself (wills keep theirs).</summary>
    public string? SourceClientId { get; init; }

    /// <summary>When the broker accepted the message, Unix milliseconds.</summary>
    public long ReceivedAtUnixMs { get; init; }

    /// <summary>
    /// Who a retained message is charged to (<see cref="RetainedQuota"/>); 0 for the broker's own messages. Set by the
    /// publishing connection, or by <see cref="RetainedMessages.Restore"/> before the message is shared; an int, so that
    /// it fits in the object's padding and the message is no larger.
    /// </summary>
    public int RetainedOwnerId { get; set; }

    /// <summary>The MQTT 5 user properties as name/value strings (converted on each read; empty when none).</summary>
    IReadOnlyList<KeyValuePair<string, string>> IRoutedMessage.UserProperties
    {
        get
        {
            if (UserProperties is not { Count: > 0 } properties)
            {
                return [];
            }

            var pairs = new KeyValuePair<string, string>[properties.Count];
            for (var i = 0; i < pairs.Length; i++)
            {
                pairs[i] = new(properties[i].Name, properties[i].ReadValueAsString());
            }

            return pairs;
        }
    }

    DateTimeOffset IRoutedMessage.ReceivedAt => DateTimeOffset.FromUnixTimeMilliseconds(ReceivedAtUnixMs);

    public bool IsExpired(long nowUnixMs) => ExpiresAtUnixMs != 0 && nowUnixMs >= ExpiresAtUnixMs;

    /// <summary>Seconds left until expiry, rounded up, as forwarded in the MQTT 5 Message Expiry Interval; 0 when none.</summary>
    public uint RemainingExpirySeconds(long nowUnixMs)
    {
        if (ExpiresAtUnixMs == 0)
        {
            return 0;
        }

        var left = ExpiresAtUnixMs - nowUnixMs;
        return left <= 0 ? 1u : (uint)((left + 999) / 1000);
    }
}
