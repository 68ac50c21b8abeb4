using Iot.Broker.Cluster;
using Iot.Broker.Cluster.Leases;

namespace Iot.Broker.Tests.Cluster.Leases;

public sealed class LeaseScheduleTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
    private readonly LeaseSchedule _schedule = new(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(2));

    [Fact]
    public void Schedule_Defaults_RenewEveryThirdGiveUpBeforeExpiry()
    {
        var schedule = LeaseSchedule.From(new ClusterOptions());

        Assert.Equal(TimeSpan.FromSeconds(10), schedule.Duration);
        Assert.Equal(TimeSpan.FromSeconds(10) / 3, schedule.RenewInterval);
        Assert.Equal(TimeSpan.FromSeconds(8), schedule.GiveUpAfter);
        Assert.Equal(TimeSpan.FromSeconds(1), schedule.RetryInterval);
        // Two renewals may fail and a third is still sent before the holder gives up.
        Assert.True(schedule.RenewInterval * 2 < schedule.GiveUpAfter);
    }

    [Fact]
    public void RetryInterval_ShortLease_IsTheRenewInterval() =>
        Assert.Equal(TimeSpan.FromMilliseconds(500), new LeaseSchedule(TimeSpan.FromMilliseconds(1500), TimeSpan.Zero).RetryInterval);

    [Theory]
    [InlineData(0, false)]
    [InlineData(9_999, false)]
    [InlineData(10_000, true)]
    [InlineData(60_000, true)]
    public void IsExpired_SeenUnchangedForTheHoldersDuration(int unchangedMs, bool expired) =>
        Assert.Equal(expired, LeaseSchedule.IsExpired(TimeSpan.FromMilliseconds(unchangedMs), TimeSpan.FromSeconds(10)));

    [Theory]
    [InlineData(0, 3_333)] // just seen: look again after a renew interval (the holder may release it sooner)
    [InlineData(8_000, 2_050)] // close to expiry: just after it
    [InlineData(9_990, 60)]
    [InlineData(20_000, 50)] // expired already (the take failed): soon
    public void NextLook_UntilExpiryClampedToRenewInterval(int unchangedMs, int expectedMs) =>
        Assert.Equal(expectedMs, (int)_schedule.NextLook(TimeSpan.FromMilliseconds(unchangedMs), TimeSpan.FromSeconds(10)).TotalMilliseconds);

    [Theory]
    [InlineData("streams.telemetry.aggregate.avg.0", "streams.telemetry.aggregate.avg.0")]
    [InlineData("webhooks.orders:eu", "webhooks.orders=3Aeu")]
    [InlineData("a=b", "a=3Db")]
    [InlineData("a..b", "a=2E=2Eb")]
    [InlineData(".a.", "=2Ea=2E")]
    [InlineData("é", "=C3=A9")]
    public void Key_OnlyKeyCharactersAndNoEmptyLevel(string name, string key) => Assert.Equal(key, LeaseRecord.Key(name));

    [Fact]
    public void Record_RoundTripsAndRejectsGarbage()
    {
        var record = new LeaseRecord("node-a", "0123", T0, T0.AddSeconds(3), 10_000);

        Assert.Equal(record, LeaseRecord.FromJson(record.ToJson()));
        Assert.Null(LeaseRecord.FromJson("not json"u8));
        Assert.Null(LeaseRecord.FromJson("{}"u8));
    }
}
