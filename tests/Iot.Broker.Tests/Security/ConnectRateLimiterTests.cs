using System.Net;
using Iot.Broker.Mqtt;
using Iot.Broker.Security;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Broker.Tests.Security;

public sealed class ConnectRateLimiterTests
{
    private static readonly IPAddress Address = IPAddress.Loopback;
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void TryAcquire_WithinBurst_AdmitsAtOnce()
    {
        var limiter = Create(rate: 10, maxDelaySeconds: 5);

        for (var i = 0; i < 20; i++)
        {
            Assert.True(limiter.TryAcquire(Address, out var delay));
            Assert.Equal(TimeSpan.Zero, delay);
        }
    }

    [Fact]
    public void TryAcquire_BeyondBurst_DelaysToTheRateThenRefuses()
    {
        var limiter = Create(rate: 10, maxDelaySeconds: 5);
        for (var i = 0; i < 20; i++)
        {
            limiter.TryAcquire(Address, out _);
        }

        // The next 50 (rate x max delay) are admitted, each 0.1 s after the one before.
        for (var i = 1; i <= 50; i++)
        {
            Assert.True(limiter.TryAcquire(Address, out var delay));
            Assert.Equal(i / 10.0, delay.TotalSeconds, 6);
        }

        Assert.False(limiter.TryAcquire(Address, out _));
    }

    [Fact]
    public void TryAcquire_AfterAFloodEnds_AddressConnectsAgainWithinTheMaxDelay()
    {
        var limiter = Create(rate: 1000, maxDelaySeconds: 5);

        // Five minutes of 5 000 attempts a second (1.5 M, as in issue 16): most are refused.
        var refused = 0;
        for (var second = 0; second < 300; second++)
        {
            for (var i = 0; i < 5000; i++)
            {
                _time.Advance(TimeSpan.FromMilliseconds(0.2));
                if (!limiter.TryAcquire(Address, out _))
                {
                    refused++;
                }
            }
        }

        Assert.InRange(refused, 1_000_000, 1_500_000);

        // Refused attempts cost nothing: within the max delay the bucket is back in credit.
        _time.Advance(TimeSpan.FromSeconds(5.01));
        Assert.True(limiter.TryAcquire(Address, out var after));
        Assert.Equal(TimeSpan.Zero, after);
    }

    [Fact]
    public void TryAcquire_MaxDelayZero_RefusesBeyondTheBurstWithoutDebt()
    {
        var limiter = Create(rate: 1, maxDelaySeconds: 0);
        Assert.True(limiter.TryAcquire(Address, out _));
        Assert.True(limiter.TryAcquire(Address, out _));
        for (var i = 0; i < 1000; i++)
        {
            Assert.False(limiter.TryAcquire(Address, out _));
        }

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(limiter.TryAcquire(Address, out var delay));
        Assert.Equal(TimeSpan.Zero, delay);
    }

    [Fact]
    public void TryAcquire_OtherAddress_IsNotCharged()
    {
        var limiter = Create(rate: 1, maxDelaySeconds: 0);
        while (limiter.TryAcquire(Address, out _))
        {
        }

        Assert.True(limiter.TryAcquire(IPAddress.Parse("192.0.2.7"), out var delay));
        Assert.Equal(TimeSpan.Zero, delay);
    }

    [Fact]
    public void Prune_ForgetsAddressesIdleForAMinute()
    {
        var limiter = Create(rate: 10, maxDelaySeconds: 5);
        limiter.TryAcquire(Address, out _);
        _time.Advance(TimeSpan.FromSeconds(61));

        limiter.Prune();

        Assert.Equal(0, limiter.TrackedAddresses);
    }

    private ConnectRateLimiter Create(int rate, int maxDelaySeconds) =>
        new(Options.Create(new MqttOptions { ConnectRatePerAddress = rate, ConnectRateMaxDelaySeconds = maxDelaySeconds }), _time);
}
