using System.Threading.Channels;
using Iot.Broker.Mqtt;

namespace Iot.Broker.Cluster.Sessions;

/// <summary>
/// Feeds a bound persistent session from its JetStream queue: direct gets "next message on the session's subject from
/// sequence N", as long as the session holds fewer than <see cref="ReadAhead"/> messages; woken by a core NATS
/// subscription on the same subject (every append is also seen there) and by the session's acknowledgements. No
/// JetStream consumer: reading costs the stream nothing when the session is idle.
/// </summary>
internal sealed partial class SessionQueueReader : IDisposable
{
    /// <summary>How many messages a session holds (queued or in flight) before the reader waits for acknowledgements.</summary>
    public const int ReadAhead = 256;

    private static readonly TimeSpan IdlePoll = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How often, after a doorbell, a read that found nothing is tried again before the reader waits: a direct get is
    /// answered by any replica of the stream, and one that has not applied the append yet finds nothing. Waits of 2, 4,
    /// 8, 16 and 32 ms (62 ms in all) instead of the idle poll's second.
    /// </summary>
    private const int LagRetries = 5;

    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _stop = new();
    private readonly ClusterConnection _cluster;
    private readonly SessionStreams _streams;
    private readonly MqttSession _session;
    private readonly string _key;
    private readonly ILogger _logger;
    private int _rings;

    public SessionQueueReader(ClusterConnection cluster, SessionStreams streams, MqttSession session, string key, ILogger logger)
    {
        _cluster = cluster;
        _streams = streams;
        _session = session;
        _key = key;
        _logger = logger;
        _ = Task.Run(DoorbellAsync);
        _ = Task.Run(ReadAsync);
    }

    /// <summary>Something changed (an acknowledgement made room, or a message was appended): read again.</summary>
    public void Signal() => _wake.Writer.TryWrite(true);

    /// <summary>Stops reading (the session ended here, or was taken over).</summary>
    public void Stop()
    {
        try
        {
            _stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public void Dispose()
    {
        Stop();
        _stop.Dispose();
    }

    private async Task DoorbellAsync()
    {
        try
        {
            await foreach (var _ in _cluster.Nats.SubscribeAsync<ReadOnlyMemory<byte>>(
                SessionKey.QueueSubject(_key), serializer: NATS.Client.Core.NatsRawSerializer<ReadOnlyMemory<byte>>.Default, cancellationToken: _stop.Token).ConfigureAwait(false))
            {
                Interlocked.Increment(ref _rings);
                Signal();
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is NATS.Client.Core.NatsException or InvalidOperationException)
        {
            // The reader polls as well: a lost doorbell only slows delivery down.
            LogDoorbellFailed(_logger, _session.ClientId, ex);
        }
    }

    private async Task ReadAsync()
    {
        ulong next = 1;
        var lagRetry = 0;
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            try
            {
                var found = false;
                var full = false;
                while (!token.IsCancellationRequested && !(full = _session.QueuedCount >= ReadAhead)
                       && await _streams.ReadNextAsync(_key, next, token).ConfigureAwait(false) is { } queued)
                {
                    found = true;
                    next = queued.Sequence + 1;
                    _session.EnqueueQueued(queued.Message, (long)queued.Sequence, queued.SubscriptionIds);
                }

                if (found)
                {
                    lagRetry = 0;
                    Interlocked.Exchange(ref _rings, 0);
                }
                else if (!full && Volatile.Read(ref _rings) > 0)
                {
                    // Rung, yet nothing found: the replica that answered may lag behind the append. Try again shortly.
                    if (++lagRetry <= LagRetries)
                    {
                        await Task.Delay(TimeSpan.FromMilliseconds(1 << lagRetry), token).ConfigureAwait(false);
                        continue;
                    }

                    lagRetry = 0;
                    Interlocked.Exchange(ref _rings, 0);
                }

                using var poll = CancellationTokenSource.CreateLinkedTokenSource(token);
                poll.CancelAfter(IdlePoll);
                await _wake.Reader.WaitToReadAsync(poll.Token).ConfigureAwait(false);
                _wake.Reader.TryRead(out _);
            }
            catch (OperationCanceledException)
            {
                // Stopped, or the idle poll elapsed: loop.
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (Exception ex) when (ex is NATS.Client.Core.NatsException or InvalidDataException or FormatException)
            {
                LogReadFailed(_logger, _session.ClientId, ex);
                try
                {
                    await Task.Delay(IdlePoll, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
            }
        }
    }

    [LoggerMessage(EventId = 1955, Level = LogLevel.Warning, Message = "Cluster: reading the queue of session {ClientId} from JetStream failed; retrying")]
    private static partial void LogReadFailed(ILogger logger, string clientId, Exception exception);

    [LoggerMessage(EventId = 1956, Level = LogLevel.Debug, Message = "Cluster: the append notifications of session {ClientId} stopped; the reader polls")]
    private static partial void LogDoorbellFailed(ILogger logger, string clientId, Exception exception);
}
