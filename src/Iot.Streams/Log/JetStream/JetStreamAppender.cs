using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Iot.Streams.Log.JetStream;

/// <summary>
/// The append side of one JetStream partition. Appends are checked against the servers' limits, then wait in a bounded
/// channel (a full channel makes publishers wait); one loop writes them in order through the store's
/// <see cref="JetStreamPublisher"/>, at most <see cref="JetStreamLogOptions.MaxInFlight"/> unanswered. When an append's
/// PubAck arrives, the acknowledged sequence is reported first and then the append completes with its offset (sequence
/// minus one); a failed append is logged and completes with the failure. Disposing writes what is queued and stops.
/// </summary>
internal sealed class JetStreamAppender : IAsyncDisposable
{
    private readonly JetStreamPublisher _publisher;
    private readonly string _streamName;
    private readonly string _subject;
    private readonly string _metricTag;
    private readonly int _maxBody;
    private readonly Action<long> _acknowledged;
    private readonly ILogger _logger;
    private readonly Channel<PendingAppend> _appends;
    private readonly SemaphoreSlim _window;
    private readonly int _maxInFlight;
    private Task _writer = Task.CompletedTask;

    /// <param name="publisher">The store's pipelined publisher.</param>
    /// <param name="streamName">The partition's JetStream stream (for logs).</param>
    /// <param name="subject">The partition's one subject.</param>
    /// <param name="metricTag">The <c>stream</c> tag of the append-time histogram.</param>
    /// <param name="maxPayload">The NATS servers' max_payload, bytes: a record's encoding gets 1 KiB less.</param>
    /// <param name="options">Queue capacity and publishes in flight.</param>
    /// <param name="acknowledged">Told each acknowledged sequence before its append completes.</param>
    /// <param name="logger">Logs failed appends.</param>
    public JetStreamAppender(JetStreamPublisher publisher, string streamName, string subject, string metricTag, long maxPayload,
        JetStreamLogOptions options, Action<long> acknowledged, ILogger logger)
    {
        _publisher = publisher;
        _streamName = streamName;
        _subject = subject;
        _metricTag = metricTag;
        _maxBody = (int)Math.Min(int.MaxValue, maxPayload) - 1024;
        _acknowledged = acknowledged;
        _logger = logger;
        _maxInFlight = options.MaxInFlight;
        _window = new SemaphoreSlim(options.MaxInFlight, options.MaxInFlight);
        _appends = Channel.CreateBounded<PendingAppend>(new BoundedChannelOptions(options.QueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
    }

    /// <summary>Starts the loop that writes the queued appends.</summary>
    public void Start() => _writer = Task.Run(WriteLoopAsync, CancellationToken.None);

    /// <summary>
    /// Queues <paramref name="record"/>; completes with its offset once JetStream acknowledged it. Throws
    /// <see cref="ArgumentException"/> for a key over 1024 or a topic over 8192 characters, or a record over the limit.
    /// </summary>
    public ValueTask<long> AppendAsync(AppendRecord record, CancellationToken cancellationToken)
    {
        if (record.Key is { Length: > 1024 } || record.Topic is { Length: > 8192 })
        {
            throw new ArgumentException("The key must be at most 1024 and the topic at most 8192 characters.", nameof(record));
        }

        if (JetStreamRecord.SizeOf(record) > _maxBody)
        {
            throw new ArgumentException($"The record is larger than {_maxBody} bytes (the NATS servers' max_payload less 1 KiB).", nameof(record));
        }

        var pending = new PendingAppend(JetStreamRecord.Encode(record));
        return _appends.Writer.TryWrite(pending)
            ? new ValueTask<long>(pending.Completion.Task)
            : SlowAppendAsync(pending, cancellationToken);
    }

    /// <summary>
    /// Refuses new appends, waits until the queued ones are written and every append in flight is answered (each is,
    /// within the publisher's request timeout, or when the publisher is disposed), then releases the in-flight window.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        _appends.Writer.TryComplete();
        await _writer.ConfigureAwait(false);

        // An append in flight releases the window when its answer comes: taking every slot waits for the last of them,
        // so that none releases the window after it is disposed.
        for (var i = 0; i < _maxInFlight; i++)
        {
            await _window.WaitAsync().ConfigureAwait(false);
        }

        _window.Dispose();
    }

    private async ValueTask<long> SlowAppendAsync(PendingAppend pending, CancellationToken cancellationToken)
    {
        await _appends.Writer.WriteAsync(pending, cancellationToken).ConfigureAwait(false);
        return await pending.Completion.Task.ConfigureAwait(false);
    }

    private async Task WriteLoopAsync()
    {
        var reader = _appends.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out var pending))
            {
                await _window.WaitAsync().ConfigureAwait(false);
                var acked = new TaskCompletionSource<ulong>(TaskCreationOptions.RunContinuationsAsynchronously);
                _ = CompleteAsync(pending, acked.Task);
                await _publisher.SendAsync(_subject, pending.Body, acked, _metricTag).ConfigureAwait(false);
            }
        }
    }

    private async Task CompleteAsync(PendingAppend pending, Task<ulong> acked)
    {
        try
        {
            var sequence = (long)await acked.ConfigureAwait(false);
            _acknowledged(sequence);
            pending.Completion.TrySetResult(sequence - 1);
        }
        catch (Exception ex)
        {
            JetStreamLogEvents.AppendFailed(_logger, _streamName, ex.Message);
            pending.Completion.TrySetException(ex);
        }
        finally
        {
            _window.Release();
        }
    }

    private sealed class PendingAppend(byte[] body)
    {
        public byte[] Body { get; } = body;

        public TaskCompletionSource<long> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
