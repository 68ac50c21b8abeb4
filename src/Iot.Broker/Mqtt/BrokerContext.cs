using Iot.Broker.Mqtt.Persistence;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Mqtt;

/// <summary>What every session and connection shares: settings, the store, counters and the clock.</summary>
internal sealed class BrokerContext(
    IOptions<MqttOptions> options, ISessionStore store, BrokerMetrics metrics, TimeProvider timeProvider, IOptions<Cluster.ClusterOptions>? cluster = null)
{
    public MqttOptions Options { get; } = options.Value;

    public ISessionStore Store { get; } = store;

    public BrokerMetrics Metrics { get; } = metrics;

    public TimeProvider Time { get; } = timeProvider;

    /// <summary>The publishes of all connections waiting for their durable writes, and the pause of their publishers.</summary>
    public DurableBacklog Backlog { get; } = new(options.Value, timeProvider);

    /// <summary>
    /// Whether a publish whose durable writes failed closes the connection whatever the protocol (cluster mode: the
    /// client resends what was not acknowledged), instead of an MQTT 5 negative acknowledgement (0x80), which a client
    /// takes as final.
    /// </summary>
    public bool CloseOnFailedWrite { get; } = cluster?.Value.Enabled ?? false;

    public long NowUnixMs => Time.GetUtcNow().ToUnixTimeMilliseconds();
}
