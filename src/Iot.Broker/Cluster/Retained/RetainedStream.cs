using System.Collections.Concurrent;
using Iot.Broker.Mqtt;
using Iot.Broker.Mqtt.Persistence;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Iot.Broker.Cluster.Retained;

/// <summary>
/// The cluster's retained messages: the JetStream stream <see cref="StreamName"/>, one message per retained topic
/// (subject <c>iot.r.&lt;escaped topic&gt;</c>, at most one message per subject, file storage,
/// <see cref="ClusterOptions.Replicas"/> replicas). Writes go here from the publishing node; every node's index is fed
/// from it by <see cref="RetainedFeed"/>; a SUBSCRIBE waits here until the index is current.
/// </summary>
/// <remarks>
/// <para>
/// Each message's body is the <see cref="BrokerMessageSerializer"/> record of the retained message (topic, QoS, MQTT 5
/// properties, publisher and the absolute expiry time, so expiry works on every node and after restarts); an empty
/// payload in the record is a clear. Headers: <see cref="OwnerHeader"/> (the identity charged, URI-escaped; absent for
/// the broker's own messages) and <see cref="NodeHeader"/> (which node wrote it, for diagnostics).
/// </para>
/// <para>
/// The wait (<see cref="WhenCurrentAsync"/>): read the stream's last sequence from its leader (stream info, which
/// includes every write it acknowledged), take the sequences of this node's own writes that were in flight when the
/// SUBSCRIBE arrived, and wait until the <see cref="Watermark"/> reaches the highest. Concurrent SUBSCRIBEs share one
/// stream-info request, as long as it was sent after they arrived (<see cref="ReadLastSequenceAsync"/>), so a storm of
/// SUBSCRIBEs costs the leader at most two requests per round trip.
/// </para>
/// </remarks>
internal sealed class RetainedStream : IRetainedReplication
{
    /// <summary>The JetStream stream.</summary>
    public const string StreamName = "IOT_RETAINED";

    /// <summary>The subject prefix; a topic's subject is this, a dot, and the escaped topic.</summary>
    public const string SubjectPrefix = "iot.r";

    /// <summary>The identity a retained message is charged to (URI-escaped).</summary>
    public const string OwnerHeader = "Iot-Owner";

    /// <summary>The node that wrote the message.</summary>
    public const string NodeHeader = "Iot-Node";

    private readonly ClusterConnection _cluster;
    private readonly BrokerMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger<RetainedStream> _logger;

    // This node's writes the stream has not answered yet, with the sequence each got (0 when it failed).
    private readonly ConcurrentDictionary<long, Task<ulong>> _inFlight = new();
    private long _nextWrite;

    // Stream-info requests shared by the SUBSCRIBEs that arrived before they were sent.
    private readonly Lock _readGate = new();
    private TaskCompletionSource<ulong>? _nextRead;
    private bool _reading;

    public RetainedStream(ClusterConnection cluster, BrokerMetrics metrics, TimeProvider time, ILogger<RetainedStream> logger)
    {
        _cluster = cluster;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        Watermark = new RetainedWatermark(time);
    }

    /// <summary>How far this node's index agrees with the stream (advanced by <see cref="RetainedFeed"/>).</summary>
    public RetainedWatermark Watermark { get; }

    /// <summary>How long start-up keeps trying to create the stream while JetStream does not answer.</summary>
    private static readonly TimeSpan SetupWindow = TimeSpan.FromSeconds(60);

    private static readonly TimeSpan SetupRetryPause = TimeSpan.FromMilliseconds(500);

    private TimeSpan Timeout => _cluster.Options.RequestTimeout;

    /// <summary>The stream's subject for <paramref name="topic"/>.</summary>
    public static string SubjectFor(string topic) => TopicSubjects.ToSubject(SubjectPrefix, topic);

    /// <summary>Creates the stream, or brings its settings up to date (several nodes may do this at once).</summary>
    public async Task EnsureStreamAsync(CancellationToken cancellationToken)
    {
        var config = new StreamConfig(StreamName, [SubjectPrefix + ".>"])
        {
            Storage = StreamConfigStorage.File,
            Retention = StreamConfigRetention.Limits,
            Discard = StreamConfigDiscard.Old,
            NumReplicas = _cluster.Options.Replicas,
            MaxMsgsPerSubject = 1,
            Description = "Iot retained messages: one per MQTT topic (docs/cluster.md)",
        };

        // A NATS cluster that starts with the brokers (every process restarted at once) may take tens of seconds to
        // elect its metadata leader: until then JetStream's API does not answer, so keep trying for a while.
        var deadline = DateTime.UtcNow + SetupWindow;
        for (var attempt = 1; ; attempt++)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(Timeout);
            try
            {
                await _cluster.JetStream.CreateOrUpdateStreamAsync(config, timeout.Token).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (DateTime.UtcNow < deadline && !cancellationToken.IsCancellationRequested
                && ex is NatsJSException or NatsException or OperationCanceledException)
            {
                // Another node created it in the same instant, or the meta leader is being elected: try again.
                ClusterRetainedLog.StreamSetupRetry(_logger, StreamName, attempt, ex);
                await Task.Delay(SetupRetryPause, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <inheritdoc/>
    public Task WriteAsync(BrokerMessage message, string? owner)
    {
        ArgumentNullException.ThrowIfNull(message);
        var id = Interlocked.Increment(ref _nextWrite);
        var settled = new TaskCompletionSource<ulong>(TaskCreationOptions.RunContinuationsAsynchronously);
        _inFlight[id] = settled.Task;
        return WriteCoreAsync(id, settled, message, owner);
    }

    /// <inheritdoc/>
    public async Task WhenCurrentAsync()
    {
        try
        {
            await CatchUpAsync().ConfigureAwait(false);
        }
        catch (TimeoutException ex)
        {
            _metrics.Add(BrokerCounter.ClusterRetainedSubscribeRefused);
            ClusterRetainedLog.NotCurrent(_logger, StreamName, Timeout.TotalSeconds, Watermark.Consistent, ex.Message);
            throw;
        }
    }

    /// <summary>
    /// Waits until the index holds the stream's state as of now (and this node's writes in flight); faults with a
    /// <see cref="TimeoutException"/> after <see cref="ClusterOptions.RequestTimeout"/>.
    /// </summary>
    public async Task CatchUpAsync()
    {
        var started = _time.GetTimestamp();
        List<Task<ulong>>? mine = null;
        foreach (var write in _inFlight)
        {
            (mine ??= []).Add(write.Value);
        }

        try
        {
            var target = await ReadLastSequenceAsync().WaitAsync(Timeout, _time).ConfigureAwait(false);
            foreach (var write in mine ?? [])
            {
                target = Math.Max(target, await write.WaitAsync(Remaining(started), _time).ConfigureAwait(false));
            }

            await Watermark.WaitAsync(target, Remaining(started)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or NatsException or OperationCanceledException)
        {
            throw new TimeoutException(
                $"retained messages could not be brought up to date within {Timeout.TotalSeconds:0.#} s (Iot:Cluster:RequestTimeout): {ex.Message}", ex);
        }
    }

    /// <summary>
    /// The stream's last sequence, read by a request sent after this call: joins the next request, or starts it.
    /// </summary>
    internal Task<ulong> ReadLastSequenceAsync()
    {
        lock (_readGate)
        {
            var next = _nextRead ??= new TaskCompletionSource<ulong>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!_reading)
            {
                _reading = true;
                _ = Task.Run(ReadLoopAsync);
            }

            return next.Task;
        }
    }

    private async Task ReadLoopAsync()
    {
        while (true)
        {
            TaskCompletionSource<ulong> batch;
            lock (_readGate)
            {
                if (_nextRead is null)
                {
                    _reading = false;
                    return;
                }

                batch = _nextRead;
                _nextRead = null;
            }

            try
            {
                using var timeout = new CancellationTokenSource(Timeout, _time);
                var stream = await _cluster.JetStream.GetStreamAsync(StreamName, cancellationToken: timeout.Token).ConfigureAwait(false);
                batch.TrySetResult(stream.Info.State.LastSeq);
            }
            catch (Exception ex)
            {
                batch.TrySetException(ex);
            }
        }
    }

    private TimeSpan Remaining(long started)
    {
        var left = Timeout - _time.GetElapsedTime(started);
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    private async Task WriteCoreAsync(long id, TaskCompletionSource<ulong> settled, BrokerMessage message, string? owner)
    {
        ulong sequence = 0;
        try
        {
            var headers = new NatsHeaders { [NodeHeader] = _cluster.NodeId };
            if (owner is not null)
            {
                headers[OwnerHeader] = Uri.EscapeDataString(owner);
            }

            using var timeout = new CancellationTokenSource(Timeout, _time);
            PubAckResponse ack;
            try
            {
                ack = await _cluster.JetStream.PublishAsync(
                    SubjectFor(message.Topic), BrokerMessageSerializer.Serialize(message), headers: headers, cancellationToken: timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException ex)
            {
                throw new TimeoutException($"JetStream did not acknowledge the retained write within {Timeout.TotalSeconds:0.#} s (Iot:Cluster:RequestTimeout)", ex);
            }

            ack.EnsureSuccess();
            sequence = ack.Seq;
        }
        catch (Exception ex)
        {
            _metrics.Add(BrokerCounter.ClusterRetainedWriteFailures);
            ClusterRetainedLog.WriteFailed(_logger, StreamName, ex);
            throw;
        }
        finally
        {
            _inFlight.TryRemove(id, out _);
            settled.TrySetResult(sequence);
        }
    }
}
