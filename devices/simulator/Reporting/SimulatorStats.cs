namespace Iot.Simulator.Reporting;

/// <summary>A consistent-enough copy of the counters, for one status line or the summary.</summary>
internal sealed record StatsSnapshot(
    int Devices,
    int Connected,
    int EverConnected,
    long Connects,
    long Reconnects,
    long Sent,
    long Acked,
    long Dropped,
    long OutOfOrder,
    long Events,
    long Commands,
    long Answered,
    long Errors,
    long Registered);

/// <summary>Counters shared by every device; updated with <see cref="Interlocked"/>, read by the progress reporter.</summary>
internal sealed class SimulatorStats(int devices)
{
    private int _connected;
    private int _everConnected;
    private long _connects;
    private long _reconnects;
    private long _sent;
    private long _acked;
    private long _dropped;
    private long _outOfOrder;
    private long _events;
    private long _commands;
    private long _answered;
    private long _errors;
    private long _registered;

    /// <summary>Devices currently connected.</summary>
    public int Connected => Volatile.Read(ref _connected);

    /// <summary>Devices that connected at least once.</summary>
    public int EverConnected => Volatile.Read(ref _everConnected);

    /// <summary>A device connected; <paramref name="first"/> for its first connection of the run.</summary>
    public void DeviceConnected(bool first)
    {
        Interlocked.Increment(ref _connected);
        Interlocked.Increment(ref _connects);
        if (first)
        {
            Interlocked.Increment(ref _everConnected);
        }
        else
        {
            Interlocked.Increment(ref _reconnects);
        }
    }

    /// <summary>A connected device lost or dropped its connection.</summary>
    public void DeviceDisconnected() => Interlocked.Decrement(ref _connected);

    /// <summary>A telemetry message or event went out (<paramref name="isEvent"/> for events).</summary>
    public void Published(bool isEvent)
    {
        Interlocked.Increment(ref _sent);
        if (isEvent)
        {
            Interlocked.Increment(ref _events);
        }
    }

    /// <summary>The broker acknowledged a publish (at QoS 0: the client sent it).</summary>
    public void Acked() => Interlocked.Increment(ref _acked);

    /// <summary>A flaky device dropped a telemetry message on purpose.</summary>
    public void Dropped() => Interlocked.Increment(ref _dropped);

    /// <summary>A telemetry message was held back and sent after a newer one.</summary>
    public void SentOutOfOrder() => Interlocked.Increment(ref _outOfOrder);

    /// <summary>A command arrived.</summary>
    public void CommandReceived() => Interlocked.Increment(ref _commands);

    /// <summary>An answer was acknowledged by the broker.</summary>
    public void CommandAnswered() => Interlocked.Increment(ref _answered);

    /// <summary>Something failed (connect, publish, registration, answer).</summary>
    public void Error() => Interlocked.Increment(ref _errors);

    /// <summary>A device was registered (or its credentials rotated) through the API.</summary>
    public void Registered() => Interlocked.Increment(ref _registered);

    /// <summary>Reads every counter.</summary>
    public StatsSnapshot Snapshot() => new(
        devices,
        Volatile.Read(ref _connected),
        Volatile.Read(ref _everConnected),
        Interlocked.Read(ref _connects),
        Interlocked.Read(ref _reconnects),
        Interlocked.Read(ref _sent),
        Interlocked.Read(ref _acked),
        Interlocked.Read(ref _dropped),
        Interlocked.Read(ref _outOfOrder),
        Interlocked.Read(ref _events),
        Interlocked.Read(ref _commands),
        Interlocked.Read(ref _answered),
        Interlocked.Read(ref _errors),
        Interlocked.Read(ref _registered));
}
