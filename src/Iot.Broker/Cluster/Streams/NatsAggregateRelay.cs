using Iot.Streams.Aggregation;
using NATS.Client.Core;

namespace Iot.Broker.Cluster.Streams;

/// <summary>
/// <see cref="IAggregateRelay"/> of cluster mode on core NATS: each result computed here is published on
/// <see cref="Subject"/> with this node's id, and every node puts the results of the others into its
/// <see cref="AggregateHub"/>, so the Server-Sent Events of any node carry every result. At most once, like the live
/// MQTT path: a result lost on the way is missing from the other nodes' SSE only (the retained MQTT aggregate, the
/// output stream and InfluxDB have it). Owns its subscription loop.
/// </summary>
internal sealed partial class NatsAggregateRelay(ClusterConnection connection, AggregateHub hub, ILogger<NatsAggregateRelay> logger)
    : IAggregateRelay, IHostedService, IAsyncDisposable
{
    /// <summary>The core NATS subject of the results.</summary>
    public const string Subject = "iot.agg";

    private const string NodeHeader = "Iot-Node";
    private readonly CancellationTokenSource _stop = new();
    private Task _receiving = Task.CompletedTask;
    private int _disposed;

    public void Send(AggregateResult result) => _ = SendAsync(result);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _receiving = ReceiveAsync(_stop.Token);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _receiving.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    public async ValueTask DisposeAsync()
    {
        // Disposed twice when start-up failed (the host, then the container): the second time does nothing.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        await _receiving.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }

    private async Task SendAsync(AggregateResult result)
    {
        try
        {
            var headers = new NatsHeaders { { NodeHeader, connection.NodeId } };
            await connection.Nats.PublishAsync(Subject, AggregatePublisher.Serialize(result), headers: headers, cancellationToken: _stop.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NatsException or OperationCanceledException or ObjectDisposedException)
        {
            LogSendFailed(logger, result.Stream, result.Window, ex.Message);
        }
    }

    private async Task ReceiveAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await foreach (var message in connection.Nats.SubscribeAsync<byte[]>(Subject, cancellationToken: cancellationToken).ConfigureAwait(false))
                {
                    if (message.Headers?.TryGetValue(NodeHeader, out var node) == true && node.ToString() == connection.NodeId)
                    {
                        continue;
                    }

                    if (message.Data is { } data && AggregatePublisher.Deserialize(data) is { } result)
                    {
                        hub.Publish(result);
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (NatsException ex)
            {
                LogReceiveFailed(logger, ex.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    [LoggerMessage(EventId = 1997, Level = LogLevel.Debug, Message = "Cluster: the result of {Stream}/{Window} was not sent to the other nodes: {Reason}")]
    private static partial void LogSendFailed(ILogger logger, string stream, string window, string reason);

    [LoggerMessage(EventId = 1998, Level = LogLevel.Warning, Message = "Cluster: receiving the other nodes' aggregation results failed ({Reason}); subscribing again")]
    private static partial void LogReceiveFailed(ILogger logger, string reason);
}
