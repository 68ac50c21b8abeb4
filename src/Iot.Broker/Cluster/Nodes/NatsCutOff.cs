namespace Iot.Broker.Cluster.Nodes;

/// <summary>
/// The cut-off rule: when the NATS connection has been lost for <see cref="ClusterOptions.CutOffTimeout"/>, this node
/// closes its MQTT clients and refuses new CONNECTs until the connection is back, rather than accept messages it cannot
/// store or route. Owns the disconnected state and its timer, on <see cref="TimeProvider"/>; guarded by <c>_gate</c>
/// (a leaf: under it only the admission flag is flipped; clients are closed and lines logged outside it).
/// </summary>
/// <remarks>
/// While cut off, the timer keeps firing every second and closes whatever connection slipped in (one admitted just
/// before the cut-off), so no client stays on a node that cannot serve it.
/// </remarks>
internal sealed class NatsCutOff : IDisposable
{
    private static readonly TimeSpan Sweep = TimeSpan.FromSeconds(1);

    private readonly TimeSpan _timeout;
    private readonly TimeProvider _time;
    private readonly ClusterMetrics _metrics;
    private readonly ILogger _logger;
    private readonly Action<bool> _refuseConnects;
    private readonly Func<int> _closeClients;
    private readonly Lock _gate = new();
    private ITimer? _timer;
    private long _disconnectedAt;
    private bool _cutOff;

    /// <param name="timeout"><see cref="ClusterOptions.CutOffTimeout"/>.</param>
    /// <param name="time">The clock.</param>
    /// <param name="metrics">Counts disconnects, cut-offs and closed clients.</param>
    /// <param name="logger">Logs each transition.</param>
    /// <param name="refuseConnects">Turns refusing new CONNECTs on (true) or off (false).</param>
    /// <param name="closeClients">Closes every MQTT client of this node; returns how many it closed.</param>
    public NatsCutOff(TimeSpan timeout, TimeProvider time, ClusterMetrics metrics, ILogger logger, Action<bool> refuseConnects, Func<int> closeClients)
    {
        _timeout = timeout;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        _refuseConnects = refuseConnects;
        _closeClients = closeClients;
    }

    /// <summary>Whether this node is cut off now.</summary>
    public bool IsCutOff
    {
        get
        {
            lock (_gate)
            {
                return _cutOff;
            }
        }
    }

    /// <summary>The NATS connection is lost: starts the cut-off timer (once per outage).</summary>
    public void Disconnected()
    {
        lock (_gate)
        {
            if (_disconnectedAt != 0)
            {
                return;
            }

            _disconnectedAt = _time.GetTimestamp();
            _timer = _time.CreateTimer(static state => ((NatsCutOff)state!).Elapsed(), this, _timeout, Sweep);
        }

        _metrics.NatsDisconnected();
        NodesLog.NatsDisconnected(_logger, (long)_timeout.TotalMilliseconds);
    }

    /// <summary>The NATS connection is back: stops the timer and, when cut off, accepts clients again.</summary>
    public void Connected()
    {
        bool wasCutOff;
        long downMs;
        lock (_gate)
        {
            if (_disconnectedAt == 0)
            {
                return;
            }

            downMs = (long)_time.GetElapsedTime(_disconnectedAt).TotalMilliseconds;
            _timer?.Dispose();
            _timer = null;
            _disconnectedAt = 0;
            wasCutOff = _cutOff;
            _cutOff = false;
            _metrics.IsCutOff = false;
            if (wasCutOff)
            {
                // Under the lock (it only flips a flag) so that a late timer tick cannot turn refusing back on after this.
                _refuseConnects(false);
            }
        }

        if (wasCutOff)
        {
            NodesLog.CutOffEnded(_logger, downMs);
        }
        else
        {
            NodesLog.NatsReconnected(_logger, downMs);
        }
    }

    private void Elapsed()
    {
        bool first;
        lock (_gate)
        {
            if (_disconnectedAt == 0)
            {
                return;
            }

            first = !_cutOff;
            _cutOff = true;
            _metrics.IsCutOff = true;
            if (first)
            {
                _refuseConnects(true);
            }
        }

        if (first)
        {
            _metrics.CutOff();
            NodesLog.CutOff(_logger, (long)_timeout.TotalMilliseconds);
        }

        // Outside the lock: closing a connection runs the broker's code. A reconnect meanwhile closes a few clients that then reconnect.
        var closed = _closeClients();
        if (closed > 0)
        {
            _metrics.ClosedByCutOff(closed);
            NodesLog.CutOffClosed(_logger, closed);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _timer?.Dispose();
            _timer = null;
        }
    }
}
