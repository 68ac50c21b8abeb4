using System.Collections.Concurrent;
using Iot.Broker.Security;

namespace Iot.Broker.Mqtt;

/// <summary>
/// The connection quotas: <see cref="MqttOptions.ConnectRatePerAddress"/> when a connection is accepted, and
/// <see cref="MqttOptions.MaxConnections"/> and <see cref="MqttOptions.MaxConnectionsPerIdentity"/> when its CONNECT
/// is admitted. Lock-free: counters and a concurrent map.
/// </summary>
internal sealed class ConnectionAdmission(BrokerContext context, ConnectRateLimiter connectRate)
{
    private readonly ConcurrentDictionary<string, int> _perIdentity = new(StringComparer.Ordinal);
    private int _clients;
    private volatile bool _unavailable;

    /// <summary>
    /// While true every CONNECT is refused with Server unavailable (<see cref="LimitKind.ClusterCutOff"/>): cluster
    /// mode sets it when this node is cut off from NATS (<c>Iot:Cluster:CutOffTimeout</c>). Always false otherwise.
    /// </summary>
    public bool Unavailable
    {
        get => _unavailable;
        set => _unavailable = value;
    }

    /// <summary>
    /// Whether a new connection from <paramref name="remote"/> is within <c>Iot:Mqtt:ConnectRatePerAddress</c>, and
    /// after what <paramref name="delay"/> its CONNECT may be answered (zero within the burst; at most
    /// <c>Iot:Mqtt:ConnectRateMaxDelaySeconds</c>); counted in <c>/metrics</c> when delayed or refused.
    /// </summary>
    public bool TryAcceptFrom(System.Net.EndPoint? remote, out TimeSpan delay)
    {
        if (!connectRate.TryAcquire(SourceAddress(remote), out delay))
        {
            context.Metrics.LimitHit(LimitKind.ConnectRatePerAddress);
            return false;
        }

        if (delay > TimeSpan.Zero)
        {
            context.Metrics.LimitHit(LimitKind.ConnectRateDelayed);
        }

        return true;
    }

    /// <summary>The address limits count a client by: its IP address, an IPv4 peer on the dual-stack listener as IPv4.</summary>
    public static System.Net.IPAddress? SourceAddress(System.Net.EndPoint? remote)
    {
        var address = (remote as System.Net.IPEndPoint)?.Address;
        return address is { IsIPv4MappedToIPv6: true } ? address.MapToIPv4() : address;
    }

    /// <summary>Counts an accepted client against the connection quotas; false (nothing counted) when a quota is full.</summary>
    public bool TryAdmit(string? identity, out LimitKind refusedBy)
    {
        refusedBy = default;
        if (_unavailable)
        {
            refusedBy = LimitKind.ClusterCutOff;
            return false;
        }

        if (Interlocked.Increment(ref _clients) > context.Options.MaxConnections)
        {
            Interlocked.Decrement(ref _clients);
            refusedBy = LimitKind.MaxConnections;
            return false;
        }

        if (identity is not null)
        {
            var count = _perIdentity.AddOrUpdate(identity, 1, static (_, c) => c + 1);
            if (count > context.Options.MaxConnectionsPerIdentity)
            {
                Release(identity);
                refusedBy = LimitKind.MaxConnectionsPerIdentity;
                return false;
            }
        }

        return true;
    }

    /// <summary>Gives back what <see cref="TryAdmit"/> counted.</summary>
    public void Release(string? identity)
    {
        Interlocked.Decrement(ref _clients);
        if (identity is not null)
        {
            var left = _perIdentity.AddOrUpdate(identity, 0, static (_, c) => c - 1);
            if (left <= 0)
            {
                _perIdentity.TryRemove(new KeyValuePair<string, int>(identity, left));
            }
        }
    }
}
