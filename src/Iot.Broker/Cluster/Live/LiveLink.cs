using System.Buffers;
using System.Threading.Channels;
using Iot.Broker.Mqtt;
using NATS.Client.Core;

namespace Iot.Broker.Cluster.Live;

/// <summary>
/// The origin side of the live path: each message this node accepts goes once to <c>{prefix}.{subject of its topic}</c>
/// on core NATS, in an envelope (<see cref="LiveEnvelope"/>) written straight into the connection's buffer, with this
/// node's id and a message id that grows across restarts (it starts at the start time in ms times 2^20).
/// </summary>
/// <remarks>
/// <para>
/// Publishing threads only queue (a bounded channel, <see cref="ClusterOptions.LiveOutboxCapacity"/>; full: the message stays
/// on this node, counted); one writer loop numbers the messages and hands them to NATS.Net. One writer because NATS.Net's
/// publish contended by 50 threads allocated about 330 bytes per message more (its lock waits), measured with the load tool.
/// The numbering in the writer also keeps an origin's ids in the order NATS carries them.
/// </para>
/// <para>
/// A message whose subject is longer than <see cref="ClusterOptions.MaxLiveSubjectLength"/> stays on this node (counted).
/// Per message: the subject string; nothing else of ours. When the connection is down a publish fails after its timeout
/// and the message is lost for the other nodes (at most once, logged at Debug and counted).
/// </para>
/// </remarks>
internal sealed class LiveLink : ILiveLink, IAsyncDisposable
{
    private readonly LiveConnection _connection;
    private readonly LiveInterest _interest;
    private readonly BrokerContext _context;
    private readonly ILogger<LiveLink> _logger;
    private readonly int _maxSubjectLength;
    private readonly Channel<LiveEnvelope.Outbound> _outbox;
    private readonly Task _writer;
    private long _nextId;

    public LiveLink(LiveConnection connection, LiveInterest interest, BrokerContext context, ILogger<LiveLink> logger)
    {
        _connection = connection;
        _interest = interest;
        _context = context;
        _logger = logger;
        _maxSubjectLength = connection.MaxSubjectLength;
        _nextId = context.NowUnixMs << 20;
        _outbox = Channel.CreateBounded<LiveEnvelope.Outbound>(
            new BoundedChannelOptions(connection.OutboxCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        _writer = Task.Run(WriteLoopAsync);
    }

    /// <summary>The subject of the shared groups' messages for members on <paramref name="node"/>; never a topic's (kind token <c>g</c>).</summary>
    public static string MemberSubject(string prefix, string node) => prefix + ".g." + node;

    public void Publish(BrokerMessage message, string? publisherClientId) =>
        Enqueue(new LiveEnvelope.Outbound(message, publisherClientId, _connection.Origin, 0, _context.NowUnixMs));

    public void SendToMember(string node, string share, string filter, string clientId, BrokerMessage message) =>
        Enqueue(new LiveEnvelope.Outbound(message, null, _connection.Origin, 0, _context.NowUnixMs,
            new LiveEnvelope.MemberTarget(MemberSubject(_interest.Prefix, node), clientId, share, filter)));

    private void Enqueue(in LiveEnvelope.Outbound outbound)
    {
        if (!_outbox.Writer.TryWrite(outbound))
        {
            _context.Metrics.LimitHit(LimitKind.ClusterLiveOutbox);
            _context.Metrics.Add(BrokerCounter.ClusterLiveLost);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _outbox.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
    }

    private async Task WriteLoopAsync()
    {
        var reader = _outbox.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out var next))
            {
                var sent = Send(next with { MessageId = (ulong)++_nextId });
                if (!sent.IsCompletedSuccessfully)
                {
                    await ObserveAsync(sent, next.Message.Topic).ConfigureAwait(false);
                }
            }
        }
    }

    private ValueTask Send(LiveEnvelope.Outbound outbound)
    {
        var message = outbound.Message;
        var subject = outbound.Member?.Subject ?? TopicSubjects.ToSubject(_interest.Prefix, message.Topic);
        if (subject.Length > _maxSubjectLength && outbound.Member is null)
        {
            _context.Metrics.LimitHit(LimitKind.ClusterLiveSubjectLength);
            return ValueTask.CompletedTask;
        }

        ValueTask sent;
        try
        {
            sent = _connection.Nats.PublishAsync(subject, outbound, serializer: EnvelopeSerializer.Instance);
        }
        catch (Exception e) when (e is NatsException or ObjectDisposedException)
        {
            Failed(message.Topic, e);
            return ValueTask.CompletedTask;
        }

        if (sent.IsCompletedSuccessfully)
        {
            _context.Metrics.Add(BrokerCounter.ClusterLivePublished);
        }

        return sent;
    }

    private async Task ObserveAsync(ValueTask sent, string topic)
    {
        try
        {
            await sent.ConfigureAwait(false);
            _context.Metrics.Add(BrokerCounter.ClusterLivePublished);
        }
        catch (Exception e) when (e is NatsException or ObjectDisposedException or OperationCanceledException or TimeoutException)
        {
            Failed(topic, e);
        }
    }

    private void Failed(string topic, Exception e)
    {
        _context.Metrics.Add(BrokerCounter.ClusterLiveLost);
        LiveLog.PublishFailed(_logger, topic, e);
    }

    private sealed class EnvelopeSerializer : INatsSerialize<LiveEnvelope.Outbound>
    {
        public static readonly EnvelopeSerializer Instance = new();

        public void Serialize(IBufferWriter<byte> bufferWriter, LiveEnvelope.Outbound value) => LiveEnvelope.Write(bufferWriter, value);
    }
}
