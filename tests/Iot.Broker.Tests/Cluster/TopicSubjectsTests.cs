using System.Text;
using Iot.Broker.Cluster;
using Iot.Messaging.Topics;

namespace Iot.Broker.Tests.Cluster;

/// <summary>Issue 18: every MQTT topic maps to one NATS subject and back, and filters match the same topics there.</summary>
public sealed class TopicSubjectsTests
{
    private const string Prefix = "iot.m";

    // Characters that stress the escaping: NATS separators and wildcards, the escape character, whitespace, controls,
    // '$', MQTT-plain ASCII, and non-ASCII (2-, 3- and 4-byte UTF-8, the last a surrogate pair).
    private static readonly string[] Alphabet =
    [
        "a", "b", "Z", "0", ".", "*", ">", "%", " ", "\t", "\n", "\u007F", "\u0001", "$", "-", "_", "~", "é", "€", "😀", "%25", "%2E",
    ];

    [Theory]
    [InlineData("devices/d1/telemetry", "iot.m.t.devices.d1.telemetry")]
    [InlineData("a", "iot.m.t.a")]
    [InlineData("a.b/c", "iot.m.t.a%2Eb.c")]
    [InlineData("a*/>", "iot.m.t.a%2A.%3E")]
    [InlineData("100%", "iot.m.t.100%25")]
    [InlineData("with space/tab\t", "iot.m.t.with%20space.tab%09")]
    [InlineData("/", "iot.m.t.%.%")]
    [InlineData("a//b/", "iot.m.t.a.%.b.%")]
    [InlineData("caf\u00e9/\u20ac", "iot.m.t.caf%C3%A9.%E2%82%AC")]
    [InlineData("$SYS/broker/load", "iot.m.s.$SYS.broker.load")]
    [InlineData("$", "iot.m.s.$")]
    [InlineData("a$/b", "iot.m.t.a$.b")]
    public void ToSubject_KnownTopics_GiveExpectedSubjects(string topic, string subject)
    {
        Assert.Equal(subject, TopicSubjects.ToSubject(Prefix, topic));
        Assert.Equal(topic, TopicSubjects.FromSubject(Prefix, subject));
    }

    [Fact]
    public void ToSubject_RandomTopics_RoundTripAndAreValidLiteralSubjects()
    {
        var random = new Random(18);
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < 20_000; i++)
        {
            var topic = RandomTopic(random);
            var subject = TopicSubjects.ToSubject(Prefix, topic);
            AssertValidLiteralSubject(subject);
            Assert.Equal(topic, TopicSubjects.FromSubject(Prefix, subject));
            if (seen.TryGetValue(subject, out var other))
            {
                Assert.Equal(other, topic);
            }

            seen[subject] = topic;
        }
    }

    [Fact]
    public void ToSubject_LoneSurrogate_Throws()
    {
        Assert.Throws<ArgumentException>(() => TopicSubjects.ToSubject(Prefix, "a/\ud800b"));
    }

    [Theory]
    [InlineData("iot.x.t.a")]
    [InlineData("iot.m")]
    [InlineData("iot.m.t")]
    [InlineData("iot.m.t.")]
    [InlineData("iot.m.x.a")]
    [InlineData("iot.m.s.a")]
    [InlineData("iot.m.t.$a")]
    [InlineData("iot.m.t.a..b")]
    [InlineData("iot.m.t.a.")]
    [InlineData("iot.m.t.*")]
    [InlineData("iot.m.t.a.>")]
    [InlineData("iot.m.t.a/b")]
    [InlineData("iot.m.t.a%2Fb")]
    [InlineData("iot.m.t.%41")]
    [InlineData("iot.m.t.%2e")]
    [InlineData("iot.m.t.%2")]
    [InlineData("iot.m.t.%%")]
    [InlineData("iot.m.t.a%")]
    [InlineData("iot.m.t.%FF")]
    [InlineData("iot.m.t.%C3")]
    [InlineData("iot.m.t.%C0%AE")]
    [InlineData("iot.m.t.a b")]
    [InlineData("iot.m.t.caf\u00e9")]
    [InlineData("iot.m.t.%24SYS")]
    public void FromSubject_NotExactlyAMappedSubject_IsNull(string subject)
    {
        Assert.Null(TopicSubjects.FromSubject(Prefix, subject));
    }

    [Theory]
    [InlineData("#", "iot.m.t.>")]
    [InlineData("+", "iot.m.t.*")]
    [InlineData("a/#", "iot.m.t.a", "iot.m.t.a.>")]
    [InlineData("+/#", "iot.m.t.*", "iot.m.t.*.>")]
    [InlineData("a/+/b", "iot.m.t.a.*.b")]
    [InlineData("a.b/+", "iot.m.t.a%2Eb.*")]
    [InlineData("/#", "iot.m.t.%", "iot.m.t.%.>")]
    [InlineData("$SYS/#", "iot.m.s.$SYS", "iot.m.s.$SYS.>")]
    [InlineData("$SYS/+/x", "iot.m.s.$SYS.*.x")]
    [InlineData("a b/%/*", "iot.m.t.a%20b.%25.%2A")]
    public void FilterSubjects_KnownFilters_GiveExpectedSubjects(string filter, params string[] subjects)
    {
        Assert.Equal(subjects, TopicSubjects.FilterSubjects(Prefix, filter));
    }

    [Theory]
    [InlineData("$SYS/broker", "#")]
    [InlineData("$SYS/broker", "+/broker")]
    [InlineData("$SYS", "+")]
    [InlineData("$share/g/x", "+/+/x")]
    public void FilterSubjects_LeadingWildcard_DoesNotMatchDollarTopic(string topic, string filter)
    {
        var subject = TopicSubjects.ToSubject(Prefix, topic);
        Assert.DoesNotContain(TopicSubjects.FilterSubjects(Prefix, filter), f => NatsMatches(subject, f));
        Assert.True(NatsMatches(subject, Prefix + ".>"));
    }

    [Fact]
    public void FilterSubjects_RandomTopicsAndFilters_MatchExactlyAsMqttDoes()
    {
        var random = new Random(1818);
        // The empty string is no topic name (MQTT matches nothing against it): only valid names are compared.
        var topics = Enumerable.Range(0, 300).Select(_ => RandomTopic(random, maxLevels: 4, pool: 4)).Where(t => t.Length > 0).ToList();
        topics.AddRange(["$SYS/a", "$SYS", "a", "a/b", "/", "a/", "$x/y/z"]);
        var filters = topics.Take(200).Select(t => RandomFilterFor(t, random)).Where(f => f.Length > 0).Distinct().ToList();
        filters.AddRange(["#", "+", "+/+", "+/#", "a/#", "$SYS/#", "/#", "+/", "$SYS/+"]);
        var checkedMatches = 0;
        foreach (var filter in filters)
        {
            var subjects = TopicSubjects.FilterSubjects(Prefix, filter);
            foreach (var topic in topics)
            {
                var expected = TopicNames.Matches(topic, filter);
                var actual = subjects.Count(f => NatsMatches(TopicSubjects.ToSubject(Prefix, topic), f));
                Assert.True(expected ? actual == 1 : actual == 0, $"topic '{topic}' filter '{filter}': MQTT {expected}, NATS subjects matched {actual}");
                checkedMatches += expected ? 1 : 0;
            }
        }

        Assert.True(checkedMatches > 500, $"only {checkedMatches} matching pairs were checked");
    }

    /// <summary>NATS's subject matching: tokens split by '.', '*' matches one token, '>' one or more to the end.</summary>
    private static bool NatsMatches(string subject, string filter)
    {
        var s = subject.Split('.');
        var f = filter.Split('.');
        for (var i = 0; i < f.Length; i++)
        {
            if (f[i] == ">")
            {
                return s.Length > i;
            }

            if (i >= s.Length || (f[i] != "*" && f[i] != s[i]))
            {
                return false;
            }
        }

        return s.Length == f.Length;
    }

    private static void AssertValidLiteralSubject(string subject)
    {
        Assert.All(subject, c => Assert.InRange(c, '!', '~'));
        var tokens = subject.Split('.');
        Assert.All(tokens, t => Assert.NotEmpty(t));
        Assert.DoesNotContain('*', subject);
        Assert.DoesNotContain('>', subject);
    }

    private static string RandomTopic(Random random, int maxLevels = 6, int pool = 0)
    {
        var levels = random.Next(1, maxLevels + 1);
        var builder = new StringBuilder();
        for (var l = 0; l < levels; l++)
        {
            if (l > 0)
            {
                builder.Append('/');
            }

            var length = random.Next(0, 4);
            for (var c = 0; c < length; c++)
            {
                // A small pool makes filters built from other topics match often.
                builder.Append(pool > 0 ? Alphabet[random.Next(pool)] : Alphabet[random.Next(Alphabet.Length)]);
            }
        }

        return builder.ToString();
    }

    private static string RandomFilterFor(string topic, Random random)
    {
        var levels = topic.Split('/');
        var parts = new List<string>();
        for (var i = 0; i < levels.Length; i++)
        {
            var roll = random.Next(10);
            if (roll == 0)
            {
                parts.Add("#");
                break;
            }

            parts.Add(roll < 4 ? "+" : levels[i]);
        }

        return string.Join('/', parts);
    }
}
