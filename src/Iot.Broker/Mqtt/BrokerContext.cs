using Iot.Broker.Mqtt.Persistence;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Mqtt;

/// <summary>What every session and connection shares: settings, the store, counters and the clock.</summary>
internal sealed class BrokerContext(IOptions<MqttOptions> options, ISessionStore store, BrokerMetrics metrics, TimeProvider timeProvider)
{
    public MqttOptions Options { get; } = options.Value;

    public ISessionStore Store { get; } = store;

    public BrokerMetrics Metrics { get; } = metrics;

    public TimeProvider Time { get; } = timeProvider;

    public long NowUnixMs => Time.GetUtcNow().ToUnixTimeMilliseconds();
}
