using Iot.Routing.Internal;

namespace Iot.Routing.Tests.Internal;

public sealed class DeliveryLimitsTests
{
    [Theory]
    [InlineData(0, 1L, 1, "maxPendingEvents")]
    [InlineData(1, 0L, 1, "maxPendingBytes")]
    [InlineData(1, 1L, 0, "maxDeadLetteredEvents")]
    public void Constructor_LimitBelowOne_ThrowsNamingIt(int events, long bytes, int deadLettered, string name)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new DeliveryLimits(events, bytes, deadLettered));
        Assert.Equal(name, ex.ParamName);
    }

    [Theory]
    [InlineData(0L, 0L)]
    [InlineData(3L, 0L)]
    [InlineData(4L, 1L)]
    [InlineData(10L, 7L)]
    public void DeadLettersBeyondCap_CountsOnlyWhatExceedsTheCap(long deadLettered, long beyond)
    {
        var limits = new DeliveryLimits(maxPendingEvents: 5, maxPendingBytes: 100, maxDeadLetteredEvents: 3);
        Assert.Equal(beyond, limits.DeadLettersBeyondCap(deadLettered));
    }

    [Fact]
    public void DeadLettersBeyondCap_NoCap_IsZeroForAnyCountAnIndexHolds()
    {
        var limits = new DeliveryLimits(int.MaxValue, long.MaxValue, int.MaxValue);
        Assert.Equal(0, limits.DeadLettersBeyondCap(int.MaxValue));
    }
}
