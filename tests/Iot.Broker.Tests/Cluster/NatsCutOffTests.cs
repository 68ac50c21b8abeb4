using Iot.Broker.Cluster.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Broker.Tests.Cluster;

public sealed class NatsCutOffTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);
    private readonly FakeTimeProvider _time = new();
    private readonly ClusterMetrics _metrics = new();
    private readonly NatsCutOff _cutOff;
    private bool _refusing;
    private int _clients = 3;
    private int _closeCalls;

    public NatsCutOffTests()
    {
        _cutOff = new NatsCutOff(Timeout, _time, _metrics, NullLogger.Instance, refuse => _refusing = refuse, () =>
        {
            _closeCalls++;
            var closed = _clients;
            _clients = 0;
            return closed;
        });
    }

    [Fact]
    public void Disconnected_ShorterThanTimeout_NothingClosed()
    {
        _cutOff.Disconnected();
        _time.Advance(Timeout - TimeSpan.FromMilliseconds(1));
        _cutOff.Connected();
        _time.Advance(TimeSpan.FromMinutes(1));

        Assert.False(_refusing);
        Assert.Equal(0, _closeCalls);
        Assert.Equal(1, _metrics.NatsDisconnects);
        Assert.Equal(0, _metrics.CutOffs);
        Assert.False(_cutOff.IsCutOff);
    }

    [Fact]
    public void Disconnected_ForTimeout_ClosesClientsAndRefusesUntilConnected()
    {
        _cutOff.Disconnected();
        _time.Advance(Timeout);

        Assert.True(_cutOff.IsCutOff);
        Assert.True(_metrics.IsCutOff);
        Assert.True(_refusing);
        Assert.Equal(1, _metrics.CutOffs);
        Assert.Equal(3, _metrics.CutOffClosed);

        // A client admitted just before the cut-off is closed at the next sweep.
        _clients = 1;
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(4, _metrics.CutOffClosed);
        Assert.Equal(1, _metrics.CutOffs);

        _cutOff.Connected();
        Assert.False(_refusing);
        Assert.False(_cutOff.IsCutOff);
        Assert.False(_metrics.IsCutOff);
        var calls = _closeCalls;
        _clients = 2;
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(calls, _closeCalls);
    }

    [Fact]
    public void Disconnected_Twice_OneOutageOneTimer()
    {
        _cutOff.Disconnected();
        _time.Advance(TimeSpan.FromSeconds(3));
        _cutOff.Disconnected();
        _time.Advance(TimeSpan.FromSeconds(2));

        Assert.True(_refusing);
        Assert.Equal(1, _metrics.NatsDisconnects);
    }

    [Fact]
    public void Outages_EachCountedAndTimedFromItsOwnStart()
    {
        _cutOff.Disconnected();
        _time.Advance(Timeout);
        _cutOff.Connected();
        _cutOff.Disconnected();
        _time.Advance(Timeout - TimeSpan.FromSeconds(1));
        Assert.False(_refusing);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(_refusing);
        Assert.Equal(2, _metrics.NatsDisconnects);
        Assert.Equal(2, _metrics.CutOffs);
    }

    [Fact]
    public void ZeroTimeout_CutsOffAtOnce()
    {
        using var cutOff = new NatsCutOff(TimeSpan.Zero, _time, _metrics, NullLogger.Instance, refuse => _refusing = refuse, () => 0);
        cutOff.Disconnected();
        _time.Advance(TimeSpan.FromTicks(1));
        Assert.True(_refusing);
    }

    [Fact]
    public void Connected_WithoutOutage_DoesNothing()
    {
        _cutOff.Connected();
        Assert.False(_refusing);
        Assert.Equal(0, _metrics.NatsDisconnects);
    }

    public void Dispose() => _cutOff.Dispose();
}
