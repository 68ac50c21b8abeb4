using Iot.TestUtilities;

namespace Iot.Broker.Tests.Telemetry;

/// <summary>The test utilities' Prometheus text parser accepts a valid scrape and refuses what Prometheus would refuse.</summary>
public sealed class PrometheusTextTests
{
    private const string Valid = """
        # HELP up_total Things.
        # TYPE up_total counter
        up_total 3
        # TYPE temp gauge
        temp{room="a\"b",floor="1"} -2.5
        temp{room="c",floor="1"} 1e3
        # HELP lat_seconds Latency.
        # TYPE lat_seconds histogram
        lat_seconds_bucket{le="0.1",op="x"} 1
        lat_seconds_bucket{le="1",op="x"} 3
        lat_seconds_bucket{le="+Inf",op="x"} 4
        lat_seconds_sum{op="x"} 2.5
        lat_seconds_count{op="x"} 4
        plain 1 1700000000000

        """;

    [Fact]
    public void Parse_ValidScrape_FamiliesTypesHelpLabelsAndValues()
    {
        var families = PrometheusText.Parse(Valid);

        Assert.Equal(["lat_seconds", "plain", "temp", "up_total"], families.Keys.Order());
        Assert.Equal("counter", families["up_total"].Type);
        Assert.Equal("Things.", families["up_total"].Help);
        Assert.Equal("a\"b", families["temp"].Samples[0].Labels["room"]);
        Assert.Equal(1000, families["temp"].Samples[1].Value);
        Assert.Equal("histogram", families["lat_seconds"].Type);
        Assert.Equal(4, families["lat_seconds"].Count);
        Assert.Equal("untyped", families["plain"].Type);
    }

    [Theory]
    [InlineData("# TYPE x counter\nx -1\n", "negative")]
    [InlineData("# TYPE x gauge\nx 1\nx 2\n", "twice")]
    [InlineData("# TYPE x gauge\nx 1\n# TYPE y gauge\ny 1\nx{a=\"1\"} 2\n", "split")]
    [InlineData("# TYPE x gauge\nx one\n", "not a number")]
    [InlineData("# TYPE x nonsense\n", "unknown type")]
    [InlineData("# TYPE 1x gauge\n", "invalid metric name")]
    [InlineData("x{1a=\"v\"} 1\n", "invalid label name")]
    [InlineData("x{a=\"v\\t\"} 1\n", "invalid escape")]
    [InlineData("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", "holds less")]
    [InlineData("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", "+Inf")]
    [InlineData("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n", "_count")]
    [InlineData("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n", "no _sum")]
    [InlineData("# TYPE x gauge\nx 1\n# HELP x late\n", "after its samples")]
    public void Parse_InvalidScrape_FormatExceptionSaysWhy(string text, string reason)
    {
        var ex = Assert.Throws<FormatException>(() => PrometheusText.Parse(text));

        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
    }
}
