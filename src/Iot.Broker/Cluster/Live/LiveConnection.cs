using System.Text;
using NATS.Client.Core;

namespace Iot.Broker.Cluster.Live;

/// <summary>
/// The live path's own NATS connection (same servers and credentials as <see cref="ClusterConnection"/>): live traffic gets
/// its own socket and reader, so a burst of it does not queue in front of JetStream acknowledgements, and the receiving
/// subscriptions, which run on this connection's reader, hold up nothing else.
/// </summary>
internal sealed class LiveConnection : IAsyncDisposable
{
    public LiveConnection(ClusterConnection cluster)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        NodeId = cluster.NodeId;
        Origin = Encoding.ASCII.GetBytes(NodeId);
        RequestTimeout = cluster.Options.RequestTimeout;
        Nats = new NatsConnection(cluster.Nats.Opts with { Name = cluster.Nats.Opts.Name + "-live" });
    }

    public NatsConnection Nats { get; }

    public string NodeId { get; }

    /// <summary>This node's id as the ASCII bytes its envelopes carry.</summary>
    public ReadOnlyMemory<byte> Origin { get; }

    public TimeSpan RequestTimeout { get; }

    public ValueTask DisposeAsync() => Nats.DisposeAsync();
}
