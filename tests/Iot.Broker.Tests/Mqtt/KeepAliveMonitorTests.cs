using Iot.Broker.Mqtt;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Broker.Tests.Mqtt;

/// <summary>
/// Issue 17: keep-alive and the connect timeout run on <see cref="TimeProvider"/>, decided by the once-a-second
/// maintenance tick; these drive them with a fake clock instead of waiting in real time.
/// </summary>
public sealed class KeepAliveMonitorTests
{
    private const int ConnectTimeout = 10;
    private const int IdleTrim = 2;
    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(1);

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 6, 12, 0, 0, TimeSpan.Zero));

    [Fact]
    public void Check_NoPacketWithinTheConnectTimeout_TimesOut()
    {
        var monitor = new KeepAliveMonitor(_time);

        _time.Advance(TimeSpan.FromSeconds(ConnectTimeout));
        Assert.Equal(KeepAliveVerdict.Alive, monitor.Check(_time, connected: false, ConnectTimeout, IdleTrim));

        _time.Advance(Tick);
        Assert.Equal(KeepAliveVerdict.ConnectTimedOut, monitor.Check(_time, connected: false, ConnectTimeout, IdleTrim));
    }

    [Fact]
    public void Check_ACONNECTStillBeingAuthenticated_IsNotCutOffByTheConnectTimeout()
    {
        var monitor = new KeepAliveMonitor(_time);
        monitor.Heard();

        _time.Advance(TimeSpan.FromSeconds(ConnectTimeout * 3));
        Assert.Equal(KeepAliveVerdict.Alive, monitor.Check(_time, connected: false, ConnectTimeout, IdleTrim));
    }

    [Fact]
    public void Check_SilentForMoreThanOneAndAHalfKeepAlives_Expires()
    {
        var monitor = Connected(keepAliveSeconds: 10);

        // 15 s of silence is still within 1.5 x 10 s (MQTT-3.1.2-24); the tick after it is not.
        var expiredAt = TimeSpan.Zero;
        for (var elapsed = Tick; elapsed <= TimeSpan.FromSeconds(20); elapsed += Tick)
        {
            _time.Advance(Tick);
            if (monitor.Check(_time, connected: true, ConnectTimeout, idleTrimSeconds: 0) == KeepAliveVerdict.KeepAliveExpired)
            {
                expiredAt = elapsed;
                break;
            }
        }

        Assert.Equal(TimeSpan.FromSeconds(16), expiredAt);
    }

    [Fact]
    public void Check_APacketBeforeTheDeadline_StartsTheSilenceAgain()
    {
        var monitor = Connected(keepAliveSeconds: 10);

        for (var second = 1; second <= 60; second++)
        {
            _time.Advance(Tick);
            if (second % 14 == 0)
            {
                // A PINGREQ every 14 s: never 15 s of silence.
                monitor.Heard();
            }

            Assert.NotEqual(KeepAliveVerdict.KeepAliveExpired, monitor.Check(_time, connected: true, ConnectTimeout, idleTrimSeconds: 0));
        }

        _time.Advance(TimeSpan.FromSeconds(16));
        Assert.Equal(KeepAliveVerdict.KeepAliveExpired, monitor.Check(_time, connected: true, ConnectTimeout, idleTrimSeconds: 0));
    }

    [Fact]
    public void Check_KeepAliveZero_NeverExpires_ButAnIdleConnectionIsTrimmed()
    {
        var monitor = Connected(keepAliveSeconds: 0);

        _time.Advance(TimeSpan.FromSeconds(IdleTrim - 1));
        Assert.Equal(KeepAliveVerdict.Alive, monitor.Check(_time, connected: true, ConnectTimeout, IdleTrim));

        _time.Advance(TimeSpan.FromDays(1));
        Assert.Equal(KeepAliveVerdict.Idle, monitor.Check(_time, connected: true, ConnectTimeout, IdleTrim));

        monitor.Heard();
        Assert.Equal(KeepAliveVerdict.Alive, monitor.Check(_time, connected: true, ConnectTimeout, IdleTrim));
    }

    [Fact]
    public void Connected_RecordsTheKeepAliveAndTheWallClock()
    {
        var monitor = new KeepAliveMonitor(_time);
        Assert.Equal(0, monitor.ConnectedAtUnixMs);

        monitor.Connected(_time, 30);

        Assert.Equal(30, monitor.KeepAliveSeconds);
        Assert.Equal(_time.GetUtcNow().ToUnixTimeMilliseconds(), monitor.ConnectedAtUnixMs);
    }

    /// <summary>A monitor whose CONNECT arrived and was accepted now, and seen by a tick.</summary>
    private KeepAliveMonitor Connected(int keepAliveSeconds)
    {
        var monitor = new KeepAliveMonitor(_time);
        monitor.Heard();
        monitor.Connected(_time, keepAliveSeconds);
        Assert.Equal(KeepAliveVerdict.Alive, monitor.Check(_time, connected: true, ConnectTimeout, idleTrimSeconds: 0));
        return monitor;
    }
}
