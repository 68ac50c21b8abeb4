namespace Iot.Broker.Mqtt;

/// <summary>What the subscription index holds under a topic filter: one session's subscription, or a shared group.</summary>
internal abstract class IndexEntry
{
    /// <summary>The topic filter without any <c>$share/{group}/</c> prefix.</summary>
    public required string TopicFilter { get; init; }
}
