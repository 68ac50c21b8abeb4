using Iot.Streams.Log.JetStream;

namespace Iot.Streams.Tests.Log.JetStream;

public sealed class JetStreamNamesTests
{
    [Theory]
    [InlineData("telemetry", "telemetry")]
    [InlineData("orders:eu.1", "orders_3Aeu_2E1")]
    [InlineData("a_b-c", "a_5Fb-c")]
    public void Escape_OnlyLettersDigitsAndDashStay_AndUnescapeReverses(string name, string escaped)
    {
        Assert.Equal(escaped, JetStreamNames.Escape(name));
        Assert.Equal(name, JetStreamNames.Unescape(escaped));
    }

    [Fact]
    public void PartitionNames_AreValidJetStreamNamesAndSubjectsThatNeverMeet()
    {
        Assert.Equal("IOT_S_a_2Eb-P3", JetStreamNames.PartitionStream("IOT_S_", "a.b", 3));
        Assert.Equal("iot.s.a_2Eb.3", JetStreamNames.PartitionSubject("iot.s", "a.b", 3));
        Assert.NotEqual(JetStreamNames.PartitionStream("IOT_S_", "a.b", 3), JetStreamNames.PartitionStream("IOT_S_", "a_b", 3));
        Assert.DoesNotContain('.', JetStreamNames.PartitionStream("IOT_S_", "x.y:z", 0));
    }

    [Theory]
    [InlineData("a_")]
    [InlineData("a_4")]
    [InlineData("a_ZZ")]
    public void Unescape_NotAnEscapedName_Null(string escaped) => Assert.Null(JetStreamNames.Unescape(escaped));
}
