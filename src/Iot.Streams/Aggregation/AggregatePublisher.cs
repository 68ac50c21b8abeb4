using System.Text.Json;
using Iot.Messaging;
using Iot.Streams.Internal;
using Iot.Streams.Log;
using Iot.Streams.Partitioning;
using Microsoft.Extensions.Logging;

namespace Iot.Streams.Aggregation;

/// <summary>
/// Delivers results: retained QoS 1 on <c>aggregates/{stream}/{window}/{key}</c> through <see cref="IMqttPublisher"/>
/// (when the broker provides one), to the <see cref="AggregateHub"/> (SSE) and, in a cluster, through
/// <see cref="IAggregateRelay"/> to the other nodes' hubs, and to the window's output stream.
/// An MQTT failure is logged and does not stop the aggregation; an output stream append is awaited (durable).
/// </summary>
internal sealed class AggregatePublisher(AggregateHub hub, IStreamStore store, IPartitionMapper mapper, ILogger<AggregatePublisher> logger,
    IMqttPublisher? mqtt = null, IAggregateRelay? relay = null)
{
    private long _published;

    /// <summary>Results published so far.</summary>
    public long Published => Interlocked.Read(ref _published);

    public static string TopicOf(AggregateResult result) => $"aggregates/{result.Stream}/{result.Window}/{TopicSafe(result.Key)}";

    public static byte[] Serialize(AggregateResult result) => JsonSerializer.SerializeToUtf8Bytes(result, StreamsJson.Options);

    /// <summary>The result <see cref="Serialize"/> wrote; null when <paramref name="json"/> is not one.</summary>
    public static AggregateResult? Deserialize(ReadOnlySpan<byte> json)
    {
        try
        {
            return JsonSerializer.Deserialize<AggregateResult>(json, StreamsJson.Options);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public async Task PublishAsync(WindowDefinition definition, IReadOnlyList<AggregateResult> results, CancellationToken cancellationToken)
    {
        List<Task<long>>? appends = null;
        foreach (var result in results)
        {
            var payload = Serialize(result);
            var topic = TopicOf(result);
            hub.Publish(result);
            relay?.Send(result);
            if (mqtt is not null)
            {
                try
                {
                    await mqtt.PublishAsync(topic, payload, 1, retain: true, contentType: "application/json", cancellationToken: cancellationToken)
                        .ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    StreamsLog.AggregatePublishFailed(logger, result.Window, result.Key, ex);
                }
            }

            if (definition.OutputStream is { } output && store.Find(output) is { } stream)
            {
                var partition = mapper.MapToPartition(result.Key, stream.Partitions);
                (appends ??= []).Add(store.GetPartition(output, partition)
                    .AppendAsync(new AppendRecord(result.End, result.Key, topic, payload), cancellationToken).AsTask());
            }

            Interlocked.Increment(ref _published);
        }

        if (appends is not null)
        {
            await Task.WhenAll(appends).ConfigureAwait(false);
        }
    }

    private static string TopicSafe(string key) =>
        key.AsSpan().IndexOfAny("/+#") < 0 ? key : key.Replace('/', '_').Replace('+', '_').Replace('#', '_');
}
