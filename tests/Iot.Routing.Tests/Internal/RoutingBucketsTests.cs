using Iot.Routing.Internal.JetStream;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;

namespace Iot.Routing.Tests.Internal;

public sealed class RoutingBucketsTests
{
    [Fact]
    public async Task RetryAsync_JetStreamNotAnsweringYet_TriesAgainUntilItAnswers()
    {
        int calls = 0;
        var result = await RoutingBuckets.RetryAsync(() => ++calls < 3 ? throw new NatsNoRespondersException() : Task.FromResult(42), CancellationToken.None);
        Assert.Equal((42, 3), (result, calls));
    }

    [Fact]
    public async Task RetryAsync_OtherFailure_ThrowsAtOnce()
    {
        int calls = 0;
        await Assert.ThrowsAsync<InvalidOperationException>(() =>
            RoutingBuckets.RetryAsync<int>(() => { calls++; throw new InvalidOperationException("no"); }, CancellationToken.None));
        Assert.Equal(1, calls);
    }

    [Fact]
    public async Task Names_FollowTheBucketName_AndTheStoresNeedOpening()
    {
        // Not connected: nothing is sent before OpenAsync.
        await using var connection = new NatsConnection();
        var js = new NatsJSContext(connection);
        var buckets = new RoutingBuckets(js, new NatsKVContext(js), replicas: 1, "iot-routing-x");
        Assert.Equal(("iot-routing-x", "iot-routing-x-deliveries"), (buckets.DefinitionsName, buckets.DeliveriesName));
        Assert.Throws<InvalidOperationException>(() => buckets.Deliveries);
    }
}
