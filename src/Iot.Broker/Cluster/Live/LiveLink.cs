using System.Buffers;
using Iot.Broker.Mqtt;
using NATS.Client.Core;

namespace Iot.Broker.Cluster.Live;

/// <summary>
/// The origin side of the live path: each message this node accepts goes once to <c>{prefix}.{subject of its topic}</c>
/// on core NATS, in an envelope (<see cref="LiveEnvelope"/>) written straight into the connection's buffer, with this
/// node's id and a message id that grows across restarts (it starts at the start time in ms times 2^20).
/// </summary>
/// <remarks>
/// Per message: the subject string; nothing else of ours. Publishing never waits: NATS.Net buffers it, and when the
/// connection is down a publish fails after its timeout and the message is lost for the other nodes (at most once, logged
/// at Debug and counted).
/// </remarks>
internal sealed class LiveLink(LiveConnection connection, LiveInterest interest, BrokerContext context, ILogger<LiveLink> logger) : ILiveLink
{
    private long _nextId = context.NowUnixMs << 20;

    public void Publish(BrokerMessage message, string? publisherClientId)
    {
        var subject = TopicSubjects.ToSubject(interest.Prefix, message.Topic);
        var outbound = new LiveEnvelope.Outbound(message, publisherClientId, connection.Origin, (ulong)Interlocked.Increment(ref _nextId), context.NowUnixMs);
        ValueTask sent;
        try
        {
            sent = connection.Nats.PublishAsync(subject, outbound, serializer: EnvelopeSerializer.Instance);
        }
        catch (Exception e) when (e is NatsException or ObjectDisposedException)
        {
            Failed(message.Topic, e);
            return;
        }

        if (sent.IsCompletedSuccessfully)
        {
            context.Metrics.Add(BrokerCounter.ClusterLivePublished);
        }
        else
        {
            _ = ObserveAsync(sent, message.Topic);
        }
    }

    private async Task ObserveAsync(ValueTask sent, string topic)
    {
        try
        {
            await sent.ConfigureAwait(false);
            context.Metrics.Add(BrokerCounter.ClusterLivePublished);
        }
        catch (Exception e) when (e is NatsException or ObjectDisposedException or OperationCanceledException or TimeoutException)
        {
            Failed(topic, e);
        }
    }

    private void Failed(string topic, Exception e)
    {
        context.Metrics.Add(BrokerCounter.ClusterLiveLost);
        LiveLog.PublishFailed(logger, topic, e);
    }

    private sealed class EnvelopeSerializer : INatsSerialize<LiveEnvelope.Outbound>
    {
        public static readonly EnvelopeSerializer Instance = new();

        public void Serialize(IBufferWriter<byte> bufferWriter, LiveEnvelope.Outbound value) => LiveEnvelope.Write(bufferWriter, value);
    }
}
