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

    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _stop = new();
    private readonly ClusterConnection _cluster;
    private readonly SessionStreams _streams;
    private readonly MqttSession _session;
    private readonly string _key;
    private readonly ILogger _logger;

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
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            try
            {
                while (!token.IsCancellationRequested && _session.QueuedCount < ReadAhead
                       && await _streams.ReadNextAsync(_key, next, token).ConfigureAwait(false) is { } queued)
                {
                    next = queued.Sequence + 1;
                    _session.EnqueueQueued(queued.Message, (long)queued.Sequence, queued.SubscriptionIds);
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
