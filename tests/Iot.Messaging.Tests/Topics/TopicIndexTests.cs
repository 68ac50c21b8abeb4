using Iot.Messaging.Topics;

namespace Iot.Messaging.Tests.Topics;

public class TopicIndexTests
{
    [Theory]
    [MemberData(nameof(TopicTestData.SpecMatches), MemberType = typeof(TopicTestData))]
    public void Match_SpecExample_ReturnsExpected(string topic, string filter, bool expected)
    {
        var index = new TopicIndex<TestValue>();
        var value = new TestValue(topic);
        index.Set(topic, value);

        var results = new List<TestValue>();
        index.Match(filter, results);

        Assert.Equal(expected ? [value] : [], results);
    }

    [Fact]
    public void Match_SpecTopicsTogether_ReturnsEveryMatchingTopic()
    {
        var index = new TopicIndex<TestValue>();
        string[] topics =
        [
            "sport", "sport/", "sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking",
            "sport/tennis/player2", "/finance", "finance", "$SYS/monitor/Clients", "$SYS", "/",
        ];
        foreach (string topic in topics)
        {
            index.Set(topic, new TestValue(topic));
        }

        Assert.Equal(["sport/tennis/player1", "sport/tennis/player1/ranking"], MatchNames(index, "sport/tennis/player1/#"));
        Assert.Equal(["sport", "sport/", "sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking", "sport/tennis/player2"], MatchNames(index, "sport/#"));
        Assert.Equal(["sport/tennis/player1", "sport/tennis/player2"], MatchNames(index, "sport/tennis/+"));
        Assert.Equal(["sport/", "sport/tennis"], MatchNames(index, "sport/+"));
        Assert.Equal(["/", "/finance", "sport/", "sport/tennis"], MatchNames(index, "+/+"));
        Assert.Equal(["/", "/finance"], MatchNames(index, "/+"));
        Assert.Equal(["finance", "sport"], MatchNames(index, "+"));
        Assert.Equal(topics.Length - 2, MatchNames(index, "#").Length);
        Assert.Equal(["$SYS", "$SYS/monitor/Clients"], MatchNames(index, "$SYS/#"));
        Assert.Equal(["$SYS/monitor/Clients"], MatchNames(index, "$SYS/monitor/+"));
        Assert.Empty(MatchNames(index, "+/monitor/Clients"));
    }

    [Fact]
    public void Match_InvalidFilter_ThrowsArgumentException()
    {
        var index = new TopicIndex<TestValue>();

        Assert.Throws<ArgumentException>(() => index.Match("a/#/b", []));
    }

    [Fact]
    public void Match_TopicWithThousandsOfLevels_DoesNotOverflowTheStack()
    {
        const int Levels = 30000;
        var index = new TopicIndex<TestValue>();
        string deep = string.Join('/', Enumerable.Repeat("a", Levels));
        index.Set(deep, new TestValue("deep"));
        index.Set("a", new TestValue("a"));

        Assert.Equal(["a", "deep"], MatchNames(index, "#"));
        Assert.Equal(["deep"], MatchNames(index, string.Join('/', Enumerable.Repeat("+", Levels))));
        Assert.True(index.TryGet(deep, out var value));
        Assert.Equal("deep", value.Name);
        Assert.True(index.Remove(deep));
        Assert.Equal(1, index.CountNodes());
    }

    [Fact]
    public void Match_SteadyState_DoesNotAllocate()
    {
        var index = new TopicIndex<TestValue>();
        for (int site = 0; site < 10; site++)
        {
            for (int device = 0; device < 100; device++)
            {
                index.Set($"sites/{site}/devices/{device}/state", new TestValue($"{site}/{device}"));
            }
        }

        var results = new List<TestValue>(capacity: 2000);
        index.Match("sites/+/devices/7/#", results);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            results.Clear();
            index.Match("sites/+/devices/7/#", results);
            index.Match("sites/3/devices/+/state", results);
            index.Match("#", results);
            index.TryGet("sites/3/devices/7/state", out _);
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Equal(10 + 100 + 1000, results.Count);
    }

    [Fact]
    public void Set_NewTopic_CountsAndCanBeFound()
    {
        var index = new TopicIndex<TestValue>();
        var value = new TestValue("v");

        index.Set("a/b", value);

        Assert.Equal(1, index.Count);
        Assert.True(index.TryGet("a/b", out var found));
        Assert.Same(value, found);
    }

    [Fact]
    public void Set_ExistingTopic_ReplacesValueAndKeepsCount()
    {
        var index = new TopicIndex<TestValue>();
        var replacement = new TestValue("new");
        index.Set("a/b", new TestValue("old"));

        index.Set("a/b", replacement);

        Assert.Equal(1, index.Count);
        Assert.True(index.TryGet("a/b", out var found));
        Assert.Same(replacement, found);
        Assert.Equal(["new"], MatchNames(index, "a/#"));
    }

    [Theory]
    [MemberData(nameof(TopicTestData.InvalidTopicNames), MemberType = typeof(TopicTestData))]
    public void Set_InvalidTopicName_ThrowsArgumentException(string topic)
    {
        var index = new TopicIndex<TestValue>();

        Assert.Throws<ArgumentException>(() => index.Set(topic, new TestValue("v")));
        Assert.Equal(0, index.Count);
    }

    [Theory]
    [InlineData("a")]
    [InlineData("a/b/c")]
    [InlineData("a/b/")]
    [InlineData("a/+")]
    [InlineData("b")]
    [InlineData("")]
    public void TryGet_OtherTopic_ReturnsFalse(string topic)
    {
        var index = new TopicIndex<TestValue>();
        index.Set("a/b", new TestValue("v"));

        Assert.False(index.TryGet(topic, out var value));
        Assert.Null(value);
    }

    [Fact]
    public void Remove_ExistingTopic_ReturnsTrueAndForgetsIt()
    {
        var index = new TopicIndex<TestValue>();
        index.Set("a/b", new TestValue("a/b"));
        index.Set("a/c", new TestValue("a/c"));

        Assert.True(index.Remove("a/b"));

        Assert.Equal(1, index.Count);
        Assert.False(index.TryGet("a/b", out _));
        Assert.Equal(["a/c"], MatchNames(index, "a/+"));
    }

    [Theory]
    [InlineData("a")]
    [InlineData("a/b/c/d")]
    [InlineData("x")]
    [InlineData("a/+")]
    public void Remove_TopicNotStored_ReturnsFalse(string topic)
    {
        var index = new TopicIndex<TestValue>();
        index.Set("a/b/c", new TestValue("v"));

        Assert.False(index.Remove(topic));
        Assert.Equal(1, index.Count);
    }

    [Fact]
    public void Remove_LastTopicOfBranch_PrunesEmptyNodes()
    {
        var index = new TopicIndex<TestValue>();
        index.Set("a/b/c/d", new TestValue("a/b/c/d"));
        index.Set("a/b", new TestValue("a/b"));
        index.Set("a/x", new TestValue("a/x"));
        Assert.Equal(5, index.CountNodes());

        index.Remove("a/b/c/d");
        Assert.Equal(3, index.CountNodes());

        index.Remove("a/b");
        Assert.Equal(2, index.CountNodes());

        index.Remove("a/x");
        Assert.Equal(0, index.CountNodes());
        Assert.Equal(0, index.Count);
    }

    [Fact]
    public void Match_RandomTopicsAndFilters_AgreesWithReferenceMatches()
    {
        var random = new Random(19990304);
        var index = new TopicIndex<TestValue>();
        var stored = new Dictionary<string, TestValue>(StringComparer.Ordinal);
        for (int i = 0; i < 3000; i++)
        {
            string topic = TopicTestData.RandomTopic(random);
            var value = new TestValue($"{i}:{topic}");
            index.Set(topic, value);
            stored[topic] = value;
        }

        Assert.Equal(stored.Count, index.Count);
        AssertAgreesWithReference(index, stored, random, filters: 2000);

        foreach (string topic in stored.Keys.Where(_ => random.Next(2) == 0).ToList())
        {
            Assert.True(index.Remove(topic));
            stored.Remove(topic);
        }

        Assert.Equal(stored.Count, index.Count);
        AssertAgreesWithReference(index, stored, random, filters: 2000);

        foreach (string topic in stored.Keys)
        {
            Assert.True(index.Remove(topic));
        }

        Assert.Equal(0, index.Count);
        Assert.Equal(0, index.CountNodes());
    }

    [Fact]
    public async Task Match_ConcurrentSetAndRemove_StableTopicsAlwaysFound()
    {
        var index = new TopicIndex<TestValue>();
        var stableA = new TestValue("s/a");
        var stableB = new TestValue("s/b");
        var system = new TestValue("$SYS/x");
        index.Set("s/a", stableA);
        index.Set("s/b", stableB);
        index.Set("$SYS/x", system);
        int done = 0;

        void Read()
        {
            var results = new List<TestValue>();
            int iterations = 0;
            while (Volatile.Read(ref done) == 0 || iterations < 100)
            {
                results.Clear();
                index.Match("s/+", results);
                Assert.Equal(1, results.Count(r => ReferenceEquals(r, stableA)));
                Assert.Equal(1, results.Count(r => ReferenceEquals(r, stableB)));

                results.Clear();
                index.Match("#", results);
                Assert.Equal(1, results.Count(r => ReferenceEquals(r, stableA)));
                Assert.DoesNotContain(system, results);

                Assert.True(index.TryGet("s/a", out var found));
                Assert.Same(stableA, found);
                iterations++;
            }
        }

        void Write()
        {
            try
            {
                var random = new Random(11);
                for (int i = 0; i < 20000; i++)
                {
                    string topic = random.Next(3) switch
                    {
                        0 => $"s/c{random.Next(100)}",
                        1 => $"s/a/{random.Next(50)}",
                        _ => $"t/{random.Next(20)}/{random.Next(20)}",
                    };
                    if (random.Next(2) == 0)
                    {
                        index.Set(topic, new TestValue(topic));
                    }
                    else
                    {
                        index.Remove(topic);
                    }
                }
            }
            finally
            {
                Volatile.Write(ref done, 1);
            }
        }

        await Task.WhenAll(Task.Run(Read), Task.Run(Read), Task.Run(Write));

        Assert.True(index.TryGet("s/b", out var b));
        Assert.Same(stableB, b);
    }

    private static void AssertAgreesWithReference(TopicIndex<TestValue> index, Dictionary<string, TestValue> stored, Random random, int filters)
    {
        var results = new List<TestValue>();
        int matched = 0;
        for (int i = 0; i < filters; i++)
        {
            string filter = TopicTestData.RandomFilter(random);
            results.Clear();
            index.Match(filter, results);
            var expected = stored.Where(e => TopicNames.Matches(e.Key, filter)).Select(e => e.Value);
            Assert.Equal(TopicTestData.SortedNames(expected), TopicTestData.SortedNames(results));
            matched += results.Count;
        }

        // Guards the generator: the comparison is worthless if nothing ever matches.
        Assert.True(matched > filters, $"Only {matched} matches over {filters} filters.");
    }

    private static string[] MatchNames(TopicIndex<TestValue> index, string filter)
    {
        var results = new List<TestValue>();
        index.Match(filter, results);
        return TopicTestData.SortedNames(results);
    }
}
