using Iot.Routing.Internal.JetStream;

namespace Iot.Routing.Tests.Internal;

public sealed class DeliveryWatchTests
{
    [Theory]
    [InlineData("orders")]
    [InlineData("with space")]
    [InlineData("dotted.name")]
    public void SubscriptionOf_DeliveryKey_GivesItsSubscription(string subscription)
    {
        var key = KeyNames.Escape(subscription) + "." + Guid.NewGuid().ToString("N");
        Assert.Equal(subscription, DeliveryWatch.SubscriptionOf(key));
    }

    [Theory]
    [InlineData("nodot")]
    [InlineData(".leading")]
    public void SubscriptionOf_OtherKey_IsNull(string key) => Assert.Null(DeliveryWatch.SubscriptionOf(key));
}
