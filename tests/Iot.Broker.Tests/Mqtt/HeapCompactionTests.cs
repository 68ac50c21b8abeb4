using Iot.Broker.Mqtt;

namespace Iot.Broker.Tests.Mqtt;

public sealed class HeapCompactionTests
{
    [Fact]
    public void Surge_ThenQuiet_CompactsOnce_AfterTheQuietTicks()
    {
        var policy = new HeapCompaction(afterConnections: 1000, quietSeconds: 3);
        Assert.False(policy.OnTick(0));
        Assert.False(policy.OnTick(600));
        Assert.False(policy.OnTick(1200));
        Assert.False(policy.OnTick(1200)); // quiet 1
        Assert.False(policy.OnTick(1200)); // quiet 2
        Assert.True(policy.OnTick(1200)); // quiet 3
        Assert.False(policy.OnTick(1200));
        Assert.False(policy.OnTick(1200));
        Assert.False(policy.OnTick(1200));
    }

    [Fact]
    public void ConnectsDuringTheQuietPeriod_RestartIt_UnlessAtMostOnePercent()
    {
        var policy = new HeapCompaction(afterConnections: 1000, quietSeconds: 2);
        policy.OnTick(0);
        policy.OnTick(2000);
        Assert.False(policy.OnTick(2010)); // 10 = 1 %: quiet 1
        Assert.False(policy.OnTick(2050)); // 40: the surge goes on
        Assert.False(policy.OnTick(2055)); // quiet 1
        Assert.True(policy.OnTick(2060)); // quiet 2
    }

    [Fact]
    public void SteadyReconnects_BelowTheThreshold_NeverCompact()
    {
        var policy = new HeapCompaction(afterConnections: 1000, quietSeconds: 3);
        var total = 0L;
        policy.OnTick(total);
        for (var tick = 0; tick < 90; tick++)
        {
            total += 10; // 10 per second: at most 1 % of the threshold, so every tick is quiet
            var compact = policy.OnTick(total);
            // Every 1 000 connections (100 ticks) would compact; 90 ticks stay below.
            Assert.False(compact);
        }
    }

    [Fact]
    public void SteadyReconnects_CompactAgainOnlyAfterAnotherThreshold()
    {
        var policy = new HeapCompaction(afterConnections: 100, quietSeconds: 1);
        var total = 0L;
        policy.OnTick(total);
        var compactions = 0;
        for (var tick = 0; tick < 100; tick++)
        {
            total += 1;
            compactions += policy.OnTick(total) ? 1 : 0;
        }

        Assert.Equal(1, compactions);
    }

    [Fact]
    public void Zero_NeverCompacts()
    {
        var policy = new HeapCompaction(afterConnections: 0, quietSeconds: 1);
        policy.OnTick(0);
        Assert.False(policy.OnTick(1_000_000));
        Assert.False(policy.OnTick(1_000_000));
        Assert.False(policy.OnTick(1_000_000));
    }

    [Fact]
    public void SurgeBeforeTheFirstTick_Counts()
    {
        var policy = new HeapCompaction(afterConnections: 1000, quietSeconds: 1);
        Assert.False(policy.OnTick(5000));
        Assert.True(policy.OnTick(5000));
        Assert.False(policy.OnTick(5000));
    }
}
