using System.Runtime.InteropServices;

namespace Iot.Broker.Mqtt;

/// <summary>
/// Queue-based load leveling: the publishes of every connection that wait for their durable writes (stream appends,
/// queue sends, pending webhook deliveries, persistent sessions' queues, retained messages), in number and payload
/// bytes. Over <see cref="MqttOptions.MaxPendingDurableWrites"/> or <see cref="MqttOptions.MaxPendingDurableBytes"/> the
/// backlog is saturated: the connections whose last publish added to it stop reading their sockets
/// (<see cref="WaitForRoomAsync"/>: TCP then slows the publisher, and its PUBACKs wait for the store) until it is below
/// <see cref="MqttOptions.PendingDurableResumePercent"/> of both again; QoS 0 publishes skip the routes meanwhile.
/// </summary>
/// <remarks>
/// The hot path pays two <see cref="Interlocked"/> operations when a publish waits for a write (<see cref="Add"/>) and two
/// when the write is done (<see cref="Complete"/>); a publish whose writes completed at once is not counted. Only the
/// change of state (saturated, resumed) takes the lock, and only a pause allocates (its wait). The saturated flag is
/// written before the counts are read again, and a completion reads the flag after its decrement, so one of them always
/// sees the other: the backlog can never stay saturated once it has drained.
/// </remarks>
internal sealed class DurableBacklog
{
    private static readonly TimeSpan ClosingCheckInterval = TimeSpan.FromSeconds(1);

    private readonly long _maxWrites;
    private readonly long _maxBytes;
    private readonly long _resumeWrites;
    private readonly long _resumeBytes;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    // Written on every counted publish, on their own cache line: every QoS 0 publish reads the flag below.
    private Counts _counts;
    private long _peakWrites;
    private int _saturated;
    private TaskCompletionSource? _resumed;
    private long _pauses;
    private long _pausedNow;
    private long _pausedTicks;

    /// <summary>Takes the bounds from <paramref name="options"/>; the pause time is measured on <paramref name="time"/>.</summary>
    public DurableBacklog(MqttOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        _maxWrites = options.MaxPendingDurableWrites;
        _maxBytes = options.MaxPendingDurableBytes;
        _resumeWrites = _maxWrites * options.PendingDurableResumePercent / 100;
        _resumeBytes = _maxBytes * options.PendingDurableResumePercent / 100;
        _time = time;
    }

    /// <summary>Publishes waiting for their durable writes now (<c>iot_mqtt_durable_backlog_writes</c>).</summary>
    public long Writes => Volatile.Read(ref _counts.Writes);

    /// <summary>Their payload bytes (<c>iot_mqtt_durable_backlog_bytes</c>).</summary>
    public long Bytes => Volatile.Read(ref _counts.Bytes);

    /// <summary>The most publishes ever waiting at once since start.</summary>
    public long PeakWrites => Volatile.Read(ref _peakWrites);

    /// <summary>Whether the backlog is over its bound and not yet back under the low-water mark.</summary>
    public bool IsSaturated => Volatile.Read(ref _saturated) != 0;

    /// <summary>Times a connection stopped reading for the backlog (<c>iot_mqtt_durable_backlog_pauses_total</c>).</summary>
    public long Pauses => Volatile.Read(ref _pauses);

    /// <summary>Connections not reading now because of the backlog.</summary>
    public long PausedConnections => Volatile.Read(ref _pausedNow);

    /// <summary>Time connections spent not reading because of the backlog, summed over connections, in seconds.</summary>
    public double PausedSeconds => (double)Volatile.Read(ref _pausedTicks) / _time.TimestampFrequency;

    /// <summary>A publish of <paramref name="bytes"/> payload bytes now waits for its durable writes.</summary>
    public void Add(int bytes)
    {
        var writes = Interlocked.Increment(ref _counts.Writes);
        var total = Interlocked.Add(ref _counts.Bytes, bytes);
        if (writes > Volatile.Read(ref _peakWrites))
        {
            RaisePeak(writes);
        }

        if ((writes >= _maxWrites || total >= _maxBytes) && Volatile.Read(ref _saturated) == 0)
        {
            Saturate();
        }
    }

    /// <summary>The durable writes of a publish <see cref="Add"/> counted are done (committed or failed).</summary>
    public void Complete(int bytes)
    {
        var writes = Interlocked.Decrement(ref _counts.Writes);
        var total = Interlocked.Add(ref _counts.Bytes, -bytes);
        if (Volatile.Read(ref _saturated) != 0 && writes <= _resumeWrites && total <= _resumeBytes)
        {
            lock (_gate)
            {
                TryResumeLocked();
            }
        }
    }

    /// <summary>
    /// Completes at once unless the backlog is saturated; then when it is back under the low-water mark, or when
    /// <paramref name="isClosing"/> says the connection is closing (checked every second). Counted as a pause.
    /// </summary>
    public ValueTask WaitForRoomAsync(Func<bool> isClosing)
    {
        Task resumed;
        lock (_gate)
        {
            if (_resumed is not { } signal)
            {
                return ValueTask.CompletedTask;
            }

            resumed = signal.Task;
        }

        return new ValueTask(PauseAsync(resumed, isClosing));
    }

    private async Task PauseAsync(Task resumed, Func<bool> isClosing)
    {
        Interlocked.Increment(ref _pauses);
        Interlocked.Increment(ref _pausedNow);
        var started = _time.GetTimestamp();
        try
        {
            while (!resumed.IsCompleted && !isClosing())
            {
                await Task.WhenAny(resumed, Task.Delay(ClosingCheckInterval, _time)).ConfigureAwait(false);
            }
        }
        finally
        {
            Interlocked.Add(ref _pausedTicks, _time.GetTimestamp() - started);
            Interlocked.Decrement(ref _pausedNow);
        }
    }

    private void Saturate()
    {
        lock (_gate)
        {
            if (_resumed is not null)
            {
                return;
            }

            _resumed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            // A full fence before the counts are read again: completions that came before the flag was set did not
            // try to resume, so when they drained it this far meanwhile, no later one would.
            Interlocked.Exchange(ref _saturated, 1);
            TryResumeLocked();
        }
    }

    private void TryResumeLocked()
    {
        if (_resumed is not { } signal || Volatile.Read(ref _counts.Writes) > _resumeWrites || Volatile.Read(ref _counts.Bytes) > _resumeBytes)
        {
            return;
        }

        _resumed = null;
        Volatile.Write(ref _saturated, 0);
        signal.TrySetResult();
    }

    private void RaisePeak(long writes)
    {
        var peak = Volatile.Read(ref _peakWrites);
        while (writes > peak)
        {
            var seen = Interlocked.CompareExchange(ref _peakWrites, writes, peak);
            if (seen == peak)
            {
                return;
            }

            peak = seen;
        }
    }

    /// <summary>The two counts, 64 bytes clear of the fields before and after them.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 192)]
    private struct Counts
    {
        [FieldOffset(64)]
        public long Writes;

        [FieldOffset(72)]
        public long Bytes;
    }
}
