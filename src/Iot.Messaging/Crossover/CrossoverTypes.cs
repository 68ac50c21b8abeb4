namespace Iot.Messaging.Crossover;

/// <summary>The CloudEvents types, sources and subjects of crossover events (docs/api.md, "Crossover events").</summary>
public static class CrossoverTypes
{
    /// <summary>
    /// The first level of every crossover subject. A topic that starts with <c>$</c> is matched by no filter that starts
    /// with a wildcard (MQTT §4.7.2), so subscriptions and routes on <c>#</c> or <c>devices/#</c> do not receive crossover
    /// events unless they ask for them (<c>$iot/#</c>), and no MQTT client may publish there (the ACLs grant no <c>$</c> topic).
    /// </summary>
    public const string SubjectPrefix = "$iot/";

    /// <summary>The prefix of every crossover type.</summary>
    public const string TypePrefix = "Iot.";

    /// <summary>An MQTT client connected (CONNACK sent, session attached).</summary>
    public const string DeviceConnected = "Iot.Device.Connected";

    /// <summary>An MQTT client that had connected is gone, with the reason.</summary>
    public const string DeviceDisconnected = "Iot.Device.Disconnected";

    /// <summary>A queue's oldest available message has waited longer than the threshold: nobody receives.</summary>
    public const string QueueActiveMessagesWithNoReceiver = "Iot.Queue.ActiveMessagesWithNoReceiver";

    /// <summary>A queue's dead-letter queue holds messages.</summary>
    public const string QueueDeadLetterMessagesAvailable = "Iot.Queue.DeadLetterMessagesAvailable";

    /// <summary>A device command was dead-lettered.</summary>
    public const string CommandDeadLettered = "Iot.Command.DeadLettered";

    /// <summary>A stream consumer group is further behind than the threshold.</summary>
    public const string StreamConsumerLagExceeded = "Iot.Stream.ConsumerLagExceeded";

    /// <summary>A sink (the InfluxDB sink) has failed to write for longer than the threshold.</summary>
    public const string SinkFailing = "Iot.Sink.Failing";

    /// <summary>Webhook deliveries of an event subscription were dead-lettered.</summary>
    public const string SubscriptionDeliveriesDeadLettered = "Iot.Subscription.DeliveriesDeadLettered";

    /// <summary>Whether <paramref name="type"/> is a crossover type (used to keep a crossover event from raising another about itself).</summary>
    public static bool IsCrossover(string? type) => type is not null && type.StartsWith(TypePrefix, StringComparison.Ordinal);

    /// <summary>
    /// <paramref name="id"/> as one topic level: as it is when it is one (every platform id is), else escaped
    /// (<see cref="Uri.EscapeDataString(string)"/>) so that an MQTT client id with <c>/</c>, <c>+</c> or <c>#</c> stays one level.
    /// </summary>
    public static string Level(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        return id.Length > 0 && id.AsSpan().IndexOfAny("/+#\0") < 0 ? id : Uri.EscapeDataString(id.Length == 0 ? "-" : id);
    }
}
