using Microsoft.Extensions.Logging;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using Iot.Messaging.JetStream;

namespace Iot.Streams.Log.JetStream;

/// <summary>
/// One partition on NATS JetStream: a replicated stream with one subject, whose message sequence minus one is the
/// record's offset (dense, as JetStream sequences are, and per partition, as the stream holds this partition only).
/// Appends go through a <see cref="JetStreamAppender"/> (a bounded queue, pipelined publishes, each completing with its
/// PubAck). Reads get messages by sequence from the stream leader; the end is learned from this node's PubAcks and from
/// an ordered consumer (headers only) that follows appends made on other nodes, which also wakes
/// <see cref="WaitForRecordsAsync"/>. Retention is the stream's own MaxAge and MaxBytes.
/// </summary>
internal sealed partial class JetStreamLog : IStreamLog
{
    private readonly INatsJSContext _js;
    private readonly JetStreamLogOptions _options;
    private readonly ILogger _logger;
    private readonly JetStreamAppender _appender;
    private readonly CancellationTokenSource _stop = new();
    private INatsJSStream? _stream;
    private Task _follower = Task.CompletedTask;
    private long _firstSeq;
    private long _lastSeq;
    private int _disposed;
    private TaskCompletionSource _appended = NewSignal();

    /// <param name="js">JetStream.</param>
    /// <param name="publisher">The store's pipelined publisher.</param>
    /// <param name="streamName">The partition's JetStream stream.</param>
    /// <param name="subject">The partition's one subject.</param>
    /// <param name="options">Settings.</param>
    /// <param name="logger">Logs.</param>
    /// <param name="metricTag">The <c>stream</c> tag of the append-time histogram: the Iot stream this is a partition of.</param>
    public JetStreamLog(INatsJSContext js, JetStreamPublisher publisher, string streamName, string subject, JetStreamLogOptions options, ILogger logger, string? metricTag = null)
    {
        _js = js;
        StreamName = streamName;
        Subject = subject;
        _options = options;
        _logger = logger;
        _appender = new JetStreamAppender(publisher, streamName, subject, metricTag ?? streamName,
            js.Connection.ServerInfo?.MaxPayload ?? 1024 * 1024, options, Advance, logger);
    }

    /// <summary>The JetStream stream of this partition.</summary>
    public string StreamName { get; }

    /// <summary>The one subject of the stream.</summary>
    public string Subject { get; }

    /// <inheritdoc/>
    public long StartOffset => Math.Max(Volatile.Read(ref _firstSeq), 1) - 1;

    /// <inheritdoc/>
    public long NextOffset => Volatile.Read(ref _lastSeq);

    /// <summary>The stream's configuration for <paramref name="definition"/>.</summary>
    public static StreamConfig ConfigFor(string streamName, string subject, StreamDefinition definition, int replicas) => new(streamName, [subject])
    {
        Storage = StreamConfigStorage.File,
        Retention = StreamConfigRetention.Limits,
        Discard = StreamConfigDiscard.Old,
        NumReplicas = replicas,
        MaxAge = definition.RetentionAge,
        MaxBytes = definition.RetentionBytes ?? -1,
        Description = $"Iot stream '{definition.Name}': one partition; offset = sequence - 1 (docs/cluster.md)",
    };

    /// <summary>Reads the stream's state and starts the writer and the follower; the stream must exist.</summary>
    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        _stream = await JetStreamRetry.RunAsync(ct => _js.GetStreamAsync(StreamName, cancellationToken: ct).AsTask(),
            _options.RequestTimeout, _options.SetupWindow, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
        ApplyState(_stream.Info.State);
        _appender.Start();
        _follower = Task.Run(FollowAsync, CancellationToken.None);
    }

    /// <inheritdoc/>
    public ValueTask<long> AppendAsync(AppendRecord record, CancellationToken cancellationToken = default) =>
        _appender.AppendAsync(record, cancellationToken);

    /// <inheritdoc/>
    public ValueTask WaitForRecordsAsync(long offset, CancellationToken cancellationToken = default)
    {
        var signal = Volatile.Read(ref _appended);
        return NextOffset > offset ? ValueTask.CompletedTask : WaitSlowAsync(signal, offset, cancellationToken);
    }

    /// <summary>JetStream applies MaxAge and MaxBytes itself: this reads the stream's first sequence and returns how far the start moved.</summary>
    public async ValueTask<long> ApplyRetentionAsync(CancellationToken cancellationToken = default)
    {
        var before = StartOffset;
        var stream = Stream;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.RequestTimeout);
        await stream.RefreshAsync(timeout.Token).ConfigureAwait(false);
        ApplyState(stream.Info.State);
        return StartOffset - before;
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _appender.DisposeAsync().ConfigureAwait(false);
        await _stop.CancelAsync().ConfigureAwait(false);
        await _follower.ConfigureAwait(false);
        _stop.Dispose();
    }

    private INatsJSStream Stream => _stream ?? throw new InvalidOperationException($"The partition stream {StreamName} is not open.");

    private void ApplyState(StreamState state)
    {
        // An empty stream reports first 0 (never written) or last + 1 (everything removed by retention).
        AdvanceFirst((long)state.FirstSeq);
        Advance((long)state.LastSeq);
    }

    private void AdvanceFirst(long firstSeq)
    {
        var current = Volatile.Read(ref _firstSeq);
        while (firstSeq > current)
        {
            var seen = Interlocked.CompareExchange(ref _firstSeq, firstSeq, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    /// <summary>Moves the end to <paramref name="lastSeq"/> when it is further, and wakes the waiting readers.</summary>
    private void Advance(long lastSeq)
    {
        var current = Volatile.Read(ref _lastSeq);
        while (lastSeq > current)
        {
            var seen = Interlocked.CompareExchange(ref _lastSeq, lastSeq, current);
            if (seen == current)
            {
                Interlocked.Exchange(ref _appended, NewSignal()).TrySetResult();
                return;
            }

            current = seen;
        }
    }

    private async ValueTask WaitSlowAsync(TaskCompletionSource signal, long offset, CancellationToken cancellationToken)
    {
        while (NextOffset <= offset)
        {
            await signal.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            signal = Volatile.Read(ref _appended);
        }
    }

    /// <summary>Follows appends made anywhere (headers only: the sequence is all it needs), so the end moves and waiters wake.</summary>
    private async Task FollowAsync()
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            try
            {
                var options = new NatsJSOrderedConsumerOpts
                {
                    DeliverPolicy = ConsumerConfigDeliverPolicy.ByStartSequence,
                    OptStartSeq = (ulong)NextOffset + 1,
                    HeadersOnly = true,
                };
                var consumer = await _js.CreateOrderedConsumerAsync(StreamName, options, token).ConfigureAwait(false);
                await foreach (var msg in consumer.ConsumeAsync<byte[]>(opts: FollowOptions, cancellationToken: token).ConfigureAwait(false))
                {
                    if (msg.Metadata is { } metadata)
                    {
                        Advance((long)metadata.Sequence.Stream);
                    }
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                JetStreamLogEvents.FollowFailed(_logger, StreamName, ex.Message);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), _options.TimeProvider, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    // A lost consumer (its server died) shows within about two heartbeats; the client then makes it again from the
    // next sequence.
    private static readonly NatsJSConsumeOpts FollowOptions = new()
    {
        MaxMsgs = 1000,
        Expires = TimeSpan.FromSeconds(10),
        IdleHeartbeat = WatchHeartbeat.Interval,
    };

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
