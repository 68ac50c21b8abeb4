using Iot.Broker.Hosting;
using Microsoft.Extensions.Options;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;

namespace Iot.Broker.Cluster;

/// <summary>
/// This node's connection to NATS in cluster mode: one <see cref="NatsConnection"/> (reconnecting on its own) with its
/// JetStream and key-value contexts, shared by every cluster component. Owns nothing else.
/// </summary>
internal sealed class ClusterConnection : IAsyncDisposable
{
    private readonly ClusterOptions _options;

    public ClusterConnection(IOptions<ClusterOptions> options, IOptions<IotOptions> iot)
    {
        _options = options.Value;
        NodeId = ClusterNodeId.Resolve(_options.NodeId, iot.Value.DataDir);
        Nats = new NatsConnection(CreateOpts(_options, NodeId));
        JetStream = new NatsJSContext(Nats);
        KeyValue = new NatsKVContext(JetStream);
    }

    /// <summary>This node's id (<see cref="ClusterOptions.NodeId"/>, or the one kept in the data directory).</summary>
    public string NodeId { get; }

    /// <summary>The connection (core NATS: live traffic, requests).</summary>
    public NatsConnection Nats { get; }

    /// <summary>JetStream (streams: durable state).</summary>
    public INatsJSContext JetStream { get; }

    /// <summary>Key-value buckets on JetStream.</summary>
    public INatsKVContext KeyValue { get; }

    /// <summary>The cluster settings.</summary>
    public ClusterOptions Options => _options;

    /// <summary>Connects, failing after <see cref="ClusterOptions.RequestTimeout"/> (a broker that cannot reach NATS does not start).</summary>
    public async Task ConnectAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.RequestTimeout);
        try
        {
            await Nats.ConnectAsync().AsTask().WaitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new InvalidOperationException(
                $"cluster mode: could not connect to NATS at {_options.Nats.Url} (Iot:Cluster:Nats:Url) within {_options.RequestTimeout.TotalSeconds:0.#} s");
        }
        catch (NatsException ex)
        {
            // Refused or unresolvable: the client gives up at once; name the setting, as for the time-out.
            throw new InvalidOperationException(
                $"cluster mode: could not connect to NATS at {_options.Nats.Url} (Iot:Cluster:Nats:Url): {ex.Message}", ex);
        }
    }

    public ValueTask DisposeAsync() => Nats.DisposeAsync();

    internal static NatsOpts CreateOpts(ClusterOptions options, string nodeId)
    {
        var nats = options.Nats;
        var tls = NatsTlsOpts.Default;
        if (nats.TlsCaFile is not null || nats.TlsCertFile is not null)
        {
            tls = new NatsTlsOpts { Mode = TlsMode.Require, CaFile = nats.TlsCaFile, CertFile = nats.TlsCertFile, KeyFile = nats.TlsKeyFile };
        }

        return NatsOpts.Default with
        {
            Url = nats.Url!,
            Name = "iot-broker-" + nodeId,
            AuthOpts = NatsAuthOpts.Default with { Username = nats.User, Password = nats.Password, Token = nats.Token, CredsFile = nats.CredsFile },
            TlsOpts = tls,
            RequestTimeout = options.RequestTimeout,
            CommandTimeout = options.RequestTimeout,
            MaxReconnectRetry = -1,
            // Another server of the cluster is usually up: try again soon (the client's default first wait is 2 s,
            // which was the whole pause of live traffic when a node's NATS server was killed; docs/benchmarks.md).
            ReconnectWaitMin = TimeSpan.FromMilliseconds(100),
            ReconnectWaitMax = TimeSpan.FromSeconds(2),
            SubPendingChannelFullMode = System.Threading.Channels.BoundedChannelFullMode.Wait,
        };
    }
}
