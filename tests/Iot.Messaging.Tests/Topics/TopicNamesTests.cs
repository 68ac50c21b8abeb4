using Iot.Messaging.Topics;

namespace Iot.Messaging.Tests.Topics;

public class TopicNamesTests
{
    [Theory]
    [MemberData(nameof(TopicTestData.ValidTopicNames), MemberType = typeof(TopicTestData))]
    public void IsValidTopicName_ValidName_ReturnsTrue(string topic)
    {
        Assert.True(TopicNames.IsValidTopicName(topic));
    }

    [Theory]
    [MemberData(nameof(TopicTestData.InvalidTopicNames), MemberType = typeof(TopicTestData))]
    public void IsValidTopicName_InvalidName_ReturnsFalse(string topic)
    {
        Assert.False(TopicNames.IsValidTopicName(topic));
    }

    [Fact]
    public void IsValidTopicName_NullCharacterOrUnpairedSurrogate_ReturnsFalse()
    {
        // Built here rather than in theory data, which the test runner serialises as text.
        string[] names = ["a\0", "\0", "\uDC00x", "x\uD83D", "a/\uD83D/b", "\uD83D\uD83D"];
        foreach (string name in names)
        {
            Assert.False(TopicNames.IsValidTopicName(name));
            Assert.False(TopicNames.IsValidTopicFilter(name));
        }

        Assert.True(TopicNames.IsValidTopicName("\uD83D\uDE42"));
    }

    [Fact]
    public void IsValidTopicName_Null_ReturnsFalse()
    {
        Assert.False(TopicNames.IsValidTopicName(null));
    }

    [Theory]
    [InlineData("a", 1, true)]
    [InlineData("ab", 1, false)]
    [InlineData("€€", 6, true)]
    [InlineData("€€", 5, false)]
    [InlineData("ü", 2, true)]
    [InlineData("ü", 1, false)]
    [InlineData("🙂", 4, true)]
    [InlineData("🙂", 3, false)]
    public void IsValidTopicName_Utf8Length_LimitsBytesNotChars(string topic, int maxUtf8Length, bool expected)
    {
        Assert.Equal(expected, TopicNames.IsValidTopicName(topic, maxUtf8Length));
        Assert.Equal(expected, TopicNames.IsValidTopicFilter(topic, maxUtf8Length));
    }

    [Fact]
    public void IsValidTopicName_DefaultLimit_Is65535Bytes()
    {
        Assert.True(TopicNames.IsValidTopicName(new string('a', 65535)));
        Assert.False(TopicNames.IsValidTopicName(new string('a', 65536)));
        Assert.False(TopicNames.IsValidTopicName(new string('a', 65534) + "ü"));
        Assert.True(TopicNames.IsValidTopicFilter(new string('a', 65533) + "/#"));
        Assert.False(TopicNames.IsValidTopicFilter(new string('a', 65534) + "/#"));
    }

    [Fact]
    public void IsValidTopicName_NegativeLimit_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => TopicNames.IsValidTopicName("a", -1));
    }

    [Theory]
    [MemberData(nameof(TopicTestData.ValidFilters), MemberType = typeof(TopicTestData))]
    public void IsValidTopicFilter_ValidFilter_ReturnsTrue(string filter)
    {
        Assert.True(TopicNames.IsValidTopicFilter(filter));
    }

    [Theory]
    [MemberData(nameof(TopicTestData.InvalidFilters), MemberType = typeof(TopicTestData))]
    public void IsValidTopicFilter_InvalidFilter_ReturnsFalse(string filter)
    {
        Assert.False(TopicNames.IsValidTopicFilter(filter));
    }

    [Fact]
    public void IsValidTopicFilter_Null_ReturnsFalse()
    {
        Assert.False(TopicNames.IsValidTopicFilter(null));
    }

    [Theory]
    [MemberData(nameof(TopicTestData.ValidTopicNames), MemberType = typeof(TopicTestData))]
    public void IsValidTopicFilter_ValidTopicName_IsAlsoValidFilter(string topic)
    {
        Assert.True(TopicNames.IsValidTopicFilter(topic));
    }

    [Theory]
    [MemberData(nameof(TopicTestData.SpecMatches), MemberType = typeof(TopicTestData))]
    public void Matches_SpecExample_ReturnsExpected(string topic, string filter, bool expected)
    {
        Assert.Equal(expected, TopicNames.Matches(topic, filter));
    }

    [Theory]
    [InlineData("a/+", "a/+")]
    [InlineData("", "#")]
    [InlineData("a", "a#")]
    [InlineData("a", "")]
    public void Matches_InvalidTopicOrFilter_ReturnsFalse(string topic, string filter)
    {
        Assert.False(TopicNames.Matches(topic, filter));
    }

    [Theory]
    [InlineData("$share/group/sport/#", "group", "sport/#")]
    [InlineData("$share/g/+", "g", "+")]
    [InlineData("$share/g//a", "g", "/a")]
    [InlineData("$share/g/$SYS/#", "g", "$SYS/#")]
    [InlineData("$share/consumer-1/devices/+/telemetry", "consumer-1", "devices/+/telemetry")]
    public void TryParseSharedSubscription_WellFormed_ReturnsNameAndFilter(string filter, string shareName, string topicFilter)
    {
        Assert.True(TopicNames.IsSharedSubscription(filter));
        Assert.True(TopicNames.TryParseSharedSubscription(filter, out string actualShareName, out string actualTopicFilter));
        Assert.Equal(shareName, actualShareName);
        Assert.Equal(topicFilter, actualTopicFilter);
    }

    [Theory]
    [InlineData("$share/")]
    [InlineData("$share//a")]
    [InlineData("$share/g")]
    [InlineData("$share/g/")]
    [InlineData("$share/+/a")]
    [InlineData("$share/#")]
    [InlineData("$share/g+/a")]
    [InlineData("$share/g#/a")]
    [InlineData("$share/g/a/#/b")]
    [InlineData("$share/g/a+")]
    public void TryParseSharedSubscription_Malformed_ReturnsFalseButIsShared(string filter)
    {
        Assert.True(TopicNames.IsSharedSubscription(filter));
        Assert.False(TopicNames.TryParseSharedSubscription(filter, out string shareName, out string topicFilter));
        Assert.Equal(string.Empty, shareName);
        Assert.Equal(string.Empty, topicFilter);
    }

    [Theory]
    [InlineData("sport/#")]
    [InlineData("$share")]
    [InlineData("$SHARE/g/a")]
    [InlineData("$sharegroup/a")]
    [InlineData("a/$share/g/b")]
    public void TryParseSharedSubscription_NotShared_ReturnsFalseAndIsNotShared(string filter)
    {
        Assert.False(TopicNames.IsSharedSubscription(filter));
        Assert.False(TopicNames.TryParseSharedSubscription(filter, out _, out _));
    }
}
