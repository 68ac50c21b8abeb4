namespace Iot.Broker.Mqtt;

/// <summary>What the once-a-second check finds about a connection (<see cref="KeepAliveMonitor.Check"/>).</summary>
internal enum KeepAliveVerdict
{
    /// <summary>Nothing to do.</summary>
    Alive,

    /// <summary>No packet within <see cref="MqttOptions.ConnectTimeoutSeconds"/> of opening: close without a word.</summary>
    ConnectTimedOut,

    /// <summary>Nothing from the client for 1.5 times its keep-alive (MQTT-3.1.2-24): DISCONNECT 0x8D and close.</summary>
    KeepAliveExpired,

    /// <summary>Nothing from the client for <see cref="MqttOptions.IdleTrimSeconds"/>: give back what can be recreated.</summary>
    Idle,
}

/// <summary>
/// When a connection last heard from its client, on <see cref="TimeProvider"/>. The receive side only raises a flag
/// per packet (<see cref="Heard"/>: no clock read on the hot path); the maintenance tick, once a second, turns the flag
/// into a time and decides (<see cref="Check"/>). So activity is known to the tick: a timeout is found at most one
/// tick later than the exact time, as it was when the tick compared exact times. A struct kept in the connection (no
/// object of its own per connection); call its members on the field, never on a copy.
/// </summary>
internal struct KeepAliveMonitor
{
    private readonly long _openedAt;
    private long _lastHeardAt;
    private long _connectedAtUnixMs;
    // 1 when a packet arrived since the last tick: set by the receive side, taken (exchanged) by the tick.
    private int _heard;
    private bool _heardOnce;
    private int _keepAliveSeconds;

    public KeepAliveMonitor(TimeProvider time)
    {
        _openedAt = _lastHeardAt = time.GetTimestamp();
    }

    /// <summary>The keep-alive in force, seconds (0: none).</summary>
    public readonly int KeepAliveSeconds => _keepAliveSeconds;

    /// <summary>When CONNECT was accepted, Unix milliseconds; 0 before.</summary>
    public readonly long ConnectedAtUnixMs => _connectedAtUnixMs;

    /// <summary>CONNECT was accepted with <paramref name="keepAliveSeconds"/> (0: none).</summary>
    public void Connected(TimeProvider time, int keepAliveSeconds)
    {
        _keepAliveSeconds = keepAliveSeconds;
        _connectedAtUnixMs = time.GetUtcNow().ToUnixTimeMilliseconds();
    }

    /// <summary>A packet arrived (receive side).</summary>
    public void Heard()
    {
        // Written only when it changes: the tick reads this line once a second, the receive side per packet.
        if (Volatile.Read(ref _heard) == 0)
        {
            Volatile.Write(ref _heard, 1);
        }
    }

    /// <summary>
    /// Decides at the tick: <paramref name="connected"/> once CONNECT bound a session. Before that, the connect timeout
    /// applies until any packet arrives (a CONNECT being authenticated is not cut off).
    /// </summary>
    public KeepAliveVerdict Check(TimeProvider time, bool connected, int connectTimeoutSeconds, int idleTrimSeconds)
    {
        var now = time.GetTimestamp();
        // Exchanged, not read then cleared: a packet that arrives meanwhile is seen by the next tick, never lost.
        if (Interlocked.Exchange(ref _heard, 0) != 0)
        {
            _heardOnce = true;
            _lastHeardAt = now;
        }

        if (!connected)
        {
            return !_heardOnce && time.GetElapsedTime(_openedAt, now) > TimeSpan.FromSeconds(connectTimeoutSeconds)
                ? KeepAliveVerdict.ConnectTimedOut
                : KeepAliveVerdict.Alive;
        }

        var silent = time.GetElapsedTime(_lastHeardAt, now);
        var keepAlive = KeepAliveSeconds;
        if (keepAlive > 0 && silent > TimeSpan.FromSeconds(keepAlive * 1.5))
        {
            return KeepAliveVerdict.KeepAliveExpired;
        }

        return idleTrimSeconds > 0 && silent >= TimeSpan.FromSeconds(idleTrimSeconds) ? KeepAliveVerdict.Idle : KeepAliveVerdict.Alive;
    }
}
