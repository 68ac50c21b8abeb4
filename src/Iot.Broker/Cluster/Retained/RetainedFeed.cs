using Iot.Broker.Mqtt;
using Iot.Broker.Mqtt.Persistence;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using Iot.Messaging.JetStream;

namespace Iot.Broker.Cluster.Retained;

/// <summary>
/// Feeds this node's retained index from <see cref="RetainedStream.StreamName"/>: ONE ordered consumer per node (never
/// one per session or subscription), from the first message at start-up (with one message per subject that is every
/// retained topic's current value), then every change as it is written, in stream order. Starts before the listeners
/// and waits (up to <see cref="ClusterOptions.RequestTimeout"/>) for the index to catch up, so a node normally opens
/// with its retained messages loaded; SUBSCRIBEs wait for the rest (<see cref="RetainedStream.WhenCurrentAsync"/>).
/// </summary>
/// <remarks>
/// NATS.Net's ordered consumer recreates its ephemeral consumer after a gap, a missed heartbeat or a lost stream leader,
/// going on after the last sequence it delivered; when it gives up, this loop starts a new one from the same place.
/// The feed is the only writer of the index in cluster mode, so the index is always the stream's state at some
/// sequence: no phantom values from writes that failed, the same charges per owner on every node.
/// </remarks>
internal sealed class RetainedFeed(
    ClusterConnection cluster, RetainedStream stream, RetainedMessages retained, TimeProvider time, ILogger<RetainedFeed> logger)
    : IHostedService, IDisposable
{
    // Heartbeats every second: when the server holding the consumer dies, the client notices within seconds and
    // recreates it (NATS.Net's default waits much longer), so SUBSCRIBEs on this node are not refused meanwhile.
    private static readonly NatsJSConsumeOpts ConsumeOptions = new()
    {
        MaxMsgs = 1000,
        Expires = TimeSpan.FromSeconds(10),
        IdleHeartbeat = WatchHeartbeat.Interval,
    };

    private readonly CancellationTokenSource _stopping = new();
    private Task? _loop;

    // The last stream sequence received; only the loop touches it.
    private ulong _position;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await stream.EnsureStreamAsync(cancellationToken).ConfigureAwait(false);
        _loop = Task.Run(() => RunAsync(_stopping.Token), CancellationToken.None);
        try
        {
            await stream.CatchUpAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
            ClusterRetainedLog.Loaded(logger, retained.Count, RetainedStream.StreamName, stream.Watermark.Consistent);
        }
        catch (TimeoutException ex)
        {
            ClusterRetainedLog.NotLoaded(logger, RetainedStream.StreamName, ex.Message);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is { } loop)
        {
            await loop.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public void Dispose() => _stopping.Dispose();

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var options = _position == 0
                    ? new NatsJSOrderedConsumerOpts { DeliverPolicy = ConsumerConfigDeliverPolicy.All }
                    : new NatsJSOrderedConsumerOpts { DeliverPolicy = ConsumerConfigDeliverPolicy.ByStartSequence, OptStartSeq = _position + 1 };
                var consumer = await cluster.JetStream.CreateOrderedConsumerAsync(RetainedStream.StreamName, options, cancellationToken).ConfigureAwait(false);
                await foreach (var message in consumer.ConsumeAsync<byte[]>(opts: ConsumeOptions, cancellationToken: cancellationToken).ConfigureAwait(false))
                {
                    Apply(message);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                ClusterRetainedLog.FeedFailed(logger, RetainedStream.StreamName, _position, ex);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), time, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private void Apply(INatsJSMsg<byte[]> message)
    {
        if (message.Metadata is not { } metadata)
        {
            return;
        }

        var sequence = metadata.Sequence.Stream;
        try
        {
            var record = BrokerMessageSerializer.Deserialize(message.Data ?? []);
            string? owner = null;
            if (message.Headers is { } headers && headers.TryGetValue(RetainedStream.OwnerHeader, out var value) && value.Count > 0)
            {
                owner = Uri.UnescapeDataString(value[0]!);
            }

            retained.ApplyFromLog(record, owner);
        }
        catch (InvalidDataException ex)
        {
            // Not ours, or damaged: the topic keeps what it had; the sequence still counts as applied.
            ClusterRetainedLog.Unreadable(logger, sequence, RetainedStream.StreamName, ex);
        }

        _position = sequence;
        stream.Watermark.Applied(sequence, metadata.NumPending);
    }
}
