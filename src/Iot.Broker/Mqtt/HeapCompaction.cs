namespace Iot.Broker.Mqtt;

/// <summary>
/// Decides when the broker compacts its managed heap: once a surge of connections (at least
/// <c>Iot:Mqtt:CompactHeapAfterConnections</c> opened since the last compaction) has settled (for
/// <c>Iot:Mqtt:CompactHeapQuietSeconds</c> ticks in a row at most 1 % of that number opened per tick).
/// </summary>
/// <remarks>
/// The objects a connection keeps (socket, session, connection state) are allocated among the short-lived garbage
/// of its CONNECT; after a connect storm they sit in half-empty heap regions that an idle broker never collects.
/// One compacting collection then gives about a third of the memory of the idle connections back to the system
/// (docs/benchmarks.md, "Issue 8: idle connections below 2 kB"), like the hibernation of an idle EMQX connection
/// process. It pauses the broker once per surge (tens of milliseconds for 10 000 connections), never on a steady
/// flow of reconnects.
/// </remarks>
internal sealed class HeapCompaction(int afterConnections, int quietSeconds)
{
    private long _lastTotal;
    private long _totalAtCompaction;
    private int _quietTicks;

    /// <summary>Called once per maintenance tick with the connections opened since start; true: compact now.</summary>
    public bool OnTick(long connectionsTotal)
    {
        var opened = connectionsTotal - _lastTotal;
        _lastTotal = connectionsTotal;
        if (afterConnections <= 0)
        {
            return false;
        }

        _quietTicks = opened <= Math.Max(1, afterConnections / 100) ? _quietTicks + 1 : 0;
        if (connectionsTotal - _totalAtCompaction < afterConnections || _quietTicks < quietSeconds)
        {
            return false;
        }

        _totalAtCompaction = connectionsTotal;
        _quietTicks = 0;
        return true;
    }
}
