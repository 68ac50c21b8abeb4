namespace Iot.Messaging.Crossover;

/// <summary>Crossover events (<c>Iot:Crossover</c>; docs/configuration.md): which are raised, their thresholds and periods.</summary>
public sealed class CrossoverOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Iot:Crossover";

    /// <summary>Whether the platform raises crossover events.</summary>
    /// <remarks>Default true. With false nothing is raised, queued or checked.</remarks>
    public bool Enabled { get; set; } = true;

    /// <summary>Events raised and not yet routed; beyond it new events are dropped and counted (<c>iot_crossover_events_dropped_total</c>).</summary>
    /// <remarks>Default 4096; range 16-1,000,000.</remarks>
    public int MaxPendingEvents { get; set; } = 4096;

    /// <summary>Which MQTT clients raise <c>Iot.Device.Connected</c> and <c>Iot.Device.Disconnected</c>.</summary>
    /// <remarks>Default <see cref="CrossoverConnectionEvents.Devices"/>.</remarks>
    public CrossoverConnectionEvents ConnectionEvents { get; set; } = CrossoverConnectionEvents.Devices;

    /// <summary>How often queues and consumer groups are checked.</summary>
    /// <remarks>Default 30 s; range 100 ms to 1 hour.</remarks>
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A condition that lasts (a queue with dead letters, a lagging group, a failing sink) raises again at most once per period.</summary>
    /// <remarks>Default 5 minutes; range 1 s to 1 day.</remarks>
    public TimeSpan RepeatPeriod { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>A queue whose oldest available message waited longer than this raises <c>Iot.Queue.ActiveMessagesWithNoReceiver</c>.</summary>
    /// <remarks>Default 5 minutes; range 1 s to 30 days.</remarks>
    public TimeSpan NoReceiverThreshold { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>A consumer group more records behind than this (summed over the stream's partitions) raises <c>Iot.Stream.ConsumerLagExceeded</c>.</summary>
    /// <remarks>Default 10,000; at least 1.</remarks>
    public long StreamLagThreshold { get; set; } = 10_000;

    /// <summary>A sink whose writes have failed for this long (retries included) raises <c>Iot.Sink.Failing</c>.</summary>
    /// <remarks>Default 1 minute; range 0 (at the first failed write) to 1 day.</remarks>
    public TimeSpan SinkFailureThreshold { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>What is wrong with the settings, each naming its key; empty when valid.</summary>
    public IEnumerable<string> Validate()
    {
        if (MaxPendingEvents is < 16 or > 1_000_000)
        {
            yield return $"{SectionName}:MaxPendingEvents must be between 16 and 1000000 (got {MaxPendingEvents}).";
        }

        if (!Enum.IsDefined(ConnectionEvents))
        {
            yield return $"{SectionName}:ConnectionEvents must be Devices, All or None (got {ConnectionEvents}).";
        }

        if (CheckInterval < TimeSpan.FromMilliseconds(100) || CheckInterval > TimeSpan.FromHours(1))
        {
            yield return $"{SectionName}:CheckInterval must be between 00:00:00.1 and 01:00:00 (got {CheckInterval}).";
        }

        if (RepeatPeriod < TimeSpan.FromSeconds(1) || RepeatPeriod > TimeSpan.FromDays(1))
        {
            yield return $"{SectionName}:RepeatPeriod must be between 00:00:01 and 1.00:00:00 (got {RepeatPeriod}).";
        }

        if (NoReceiverThreshold < TimeSpan.FromSeconds(1) || NoReceiverThreshold > TimeSpan.FromDays(30))
        {
            yield return $"{SectionName}:NoReceiverThreshold must be between 00:00:01 and 30.00:00:00 (got {NoReceiverThreshold}).";
        }

        if (StreamLagThreshold < 1)
        {
            yield return $"{SectionName}:StreamLagThreshold must be at least 1 (got {StreamLagThreshold}).";
        }

        if (SinkFailureThreshold < TimeSpan.Zero || SinkFailureThreshold > TimeSpan.FromDays(1))
        {
            yield return $"{SectionName}:SinkFailureThreshold must be between 00:00:00 and 1.00:00:00 (got {SinkFailureThreshold}).";
        }
    }
}

/// <summary>Which MQTT clients raise connection events.</summary>
public enum CrossoverConnectionEvents
{
    /// <summary>
    /// Devices: clients that authenticated as a device identity, and anonymous clients (development brokers, where a
    /// device has no identity). Service and dashboard identities do not: they are back ends and browser tabs, whose
    /// reconnects are not a device's lifecycle and would flood the subscribers.
    /// </summary>
    Devices,

    /// <summary>Every MQTT client.</summary>
    All,

    /// <summary>No connection events.</summary>
    None,
}
