using Iot.Streams.Aggregation;

namespace Iot.Streams.Tests.Aggregation;

public sealed class AggregateHubTests
{
    private static readonly DateTimeOffset End = new(2026, 12, 4, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Publish_MoreKeysThanMaxLatest_KeepsTheFirstKeysAndCountsTheRest()
    {
        var hub = new AggregateHub(maxLatest: 2);

        hub.Publish(Result("a", 1));
        hub.Publish(Result("b", 1));
        hub.Publish(Result("c", 1));

        Assert.Equal(["a", "b"], hub.Latest(_ => true).Select(r => r.Key).Order(StringComparer.Ordinal));
        Assert.Equal(2, hub.LatestCount);
        Assert.Equal(1, hub.LatestRefused);
    }

    [Fact]
    public void Publish_KnownKeyAtTheLimit_ReplacesItsLatestResult()
    {
        var hub = new AggregateHub(maxLatest: 1);

        hub.Publish(Result("a", 1));
        hub.Publish(Result("a", 2));

        var latest = Assert.Single(hub.Latest(_ => true));
        Assert.Equal(End.AddSeconds(2), latest.End);
        Assert.Equal(0, hub.LatestRefused);
    }

    [Fact]
    public void Publish_MaxLatestZero_KeepsNoneButStillFeedsReaders()
    {
        var hub = new AggregateHub(maxLatest: 0);
        using var feed = hub.OpenFeed(_ => true);

        hub.Publish(Result("a", 1));

        Assert.Empty(hub.Latest(_ => true));
        Assert.Equal(1, hub.LatestRefused);
        Assert.True(feed.Results.TryRead(out var received));
        Assert.Equal("a", received.Key);
    }

    [Fact]
    public async Task Publish_ConcurrentSameKeys_CountsEachKeyOnce()
    {
        var hub = new AggregateHub(maxLatest: 100);

        await Task.WhenAll(Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < 2_000; i++)
            {
                hub.Publish(Result($"k{i % 50}", i));
            }
        })));

        Assert.Equal(50, hub.LatestCount);
        Assert.Equal(50, hub.Latest(_ => true).Count);
        Assert.Equal(0, hub.LatestRefused);
    }

    private static AggregateResult Result(string key, int seconds) =>
        new("telemetry", "w", key, End.AddSeconds(seconds - 10), End.AddSeconds(seconds), 1,
            new Dictionary<string, IReadOnlyDictionary<string, double>>());
}
