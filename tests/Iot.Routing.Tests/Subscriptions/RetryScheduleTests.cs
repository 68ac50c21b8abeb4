using Iot.Routing.Hosting;
using Iot.Routing.Subscriptions;

namespace Iot.Routing.Tests.Subscriptions;

public class RetryScheduleTests
{
    [Fact]
    public void GetDelay_DefaultSchedule_IsEventGridLike()
    {
        var schedule = new RetrySchedule(new RoutingOptions().EffectiveRetrySchedule);
        Assert.Equal(TimeSpan.FromSeconds(10), schedule.GetDelay(1));
        Assert.Equal(TimeSpan.FromSeconds(30), schedule.GetDelay(2));
        Assert.Equal(TimeSpan.FromMinutes(1), schedule.GetDelay(3));
        Assert.Equal(TimeSpan.FromMinutes(5), schedule.GetDelay(4));
        Assert.Equal(TimeSpan.FromHours(12), schedule.GetDelay(10));
        Assert.Equal(TimeSpan.FromHours(12), schedule.GetDelay(30));
    }

    [Fact]
    public void GetDelay_ConfiguredSchedule_RepeatsLastEntry()
    {
        var schedule = new RetrySchedule(new RoutingOptions { RetrySchedule = [TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(20)] }.EffectiveRetrySchedule);
        Assert.Equal(TimeSpan.FromMilliseconds(5), schedule.GetDelay(1));
        Assert.Equal(TimeSpan.FromMilliseconds(20), schedule.GetDelay(2));
        Assert.Equal(TimeSpan.FromMilliseconds(20), schedule.GetDelay(7));
        Assert.Throws<ArgumentOutOfRangeException>(() => schedule.GetDelay(0));
    }
}
