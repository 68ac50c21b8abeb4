using System.Text;
using Iot.Streams.Log;
using Iot.Streams.Sinks.Influx;

namespace Iot.Streams.Tests.Sinks;

public sealed class LineProtocolTests
{
    private static string Line(string json, string? key = "dev 1")
    {
        var builder = new StringBuilder();
        var record = new StreamRecord(0, DateTimeOffset.FromUnixTimeMilliseconds(5000), key, null, Encoding.UTF8.GetBytes(json));
        return LineProtocol.TryAppend(builder, "telemetry", record) ? builder.ToString() : "(none)";
    }

    [Fact]
    public void TryAppend_Telemetry_FloatFieldsKeyTagAndTs() =>
        Assert.Equal("telemetry,key=dev\\ 1 temperature=21.5,count=3,ok=true 1767225600000\n",
            Line("""{"temperature":21.5,"count":3,"ok":true,"name":"x","ts":"2026-01-01T00:00:00Z"}"""));

    [Fact]
    public void TryAppend_NoTs_UsesArrivalTime() => Assert.Equal("telemetry,key=d t=1 5000\n", Line("""{"t":1}""", "d"));

    [Fact]
    public void TryAppend_Aggregate_FlattensFieldsTagsWindowAndUsesEnd() =>
        Assert.Equal("telemetry,key=d,window=t1m count=2,temperature_avg=20,temperature_max=21 1767225660000\n",
            Line("""{"stream":"telemetry","window":"t1m","key":"d","start":"2026-01-01T00:00:00Z","end":"2026-01-01T00:01:00Z","count":2,"fields":{"temperature":{"avg":20,"max":21}}}""", "d"));

    [Theory]
    [InlineData("not json")]
    [InlineData("[1,2]")]
    [InlineData("""{"name":"only strings"}""")]
    public void TryAppend_NoFields_Nothing(string json) => Assert.Equal("(none)", Line(json));
}
