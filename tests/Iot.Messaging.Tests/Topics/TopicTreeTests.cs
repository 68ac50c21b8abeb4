using Iot.Messaging.Topics;

namespace Iot.Messaging.Tests.Topics;

public class TopicTreeTests
{
    [Theory]
    [MemberData(nameof(TopicTestData.SpecMatches), MemberType = typeof(TopicTestData))]
    public void Match_SpecExample_ReturnsExpected(string topic, string filter, bool expected)
    {
        var tree = new TopicTree<TestValue>();
        var value = new TestValue(filter);
        tree.Add(filter, value);

        var results = new List<TestValue>();
        tree.Match(topic, results);

        Assert.Equal(expected ? [value] : [], results);
    }

    [Fact]
    public void Match_SpecFiltersTogether_ReturnsEveryMatchingFilter()
    {
        var tree = new TopicTree<TestValue>();
        string[] filters =
        [
            "sport/tennis/player1/#", "sport/#", "#", "sport/tennis/+", "sport/+", "+/+", "/+", "+",
            "$SYS/#", "$SYS/monitor/+", "+/monitor/Clients", "sport/+/player1", "+/tennis/#",
        ];
        foreach (string filter in filters)
        {
            Assert.True(tree.Add(filter, new TestValue(filter)));
        }

        Assert.Equal(["#", "+/tennis/#", "sport/#", "sport/+/player1", "sport/tennis/+", "sport/tennis/player1/#"], MatchNames(tree, "sport/tennis/player1"));
        Assert.Equal(["#", "+", "sport/#"], MatchNames(tree, "sport"));
        Assert.Equal(["#", "+/+", "sport/#", "sport/+"], MatchNames(tree, "sport/"));
        Assert.Equal(["#", "+/+", "/+"], MatchNames(tree, "/finance"));
        Assert.Equal(["$SYS/#", "$SYS/monitor/+"], MatchNames(tree, "$SYS/monitor/Clients"));
        Assert.Equal(["#", "+/monitor/Clients"], MatchNames(tree, "SYS/monitor/Clients"));
    }

    [Fact]
    public void Match_ValueUnderTwoMatchingFilters_AppearsTwice()
    {
        var tree = new TopicTree<TestValue>();
        var value = new TestValue("v");
        tree.Add("a/+", value);
        tree.Add("a/#", value);

        var results = new List<TestValue>();
        tree.Match("a/b", results);

        Assert.Equal([value, value], results);
    }

    [Fact]
    public void Match_ExistingResults_AppendsWithoutClearing()
    {
        var tree = new TopicTree<TestValue>();
        var existing = new TestValue("existing");
        var value = new TestValue("v");
        tree.Add("a", value);
        var results = new List<TestValue> { existing };

        tree.Match("a", results);

        Assert.Equal([existing, value], results);
    }

    [Fact]
    public void Match_EmptyTopic_MatchesNothing()
    {
        var tree = new TopicTree<TestValue>();
        tree.Add("#", new TestValue("#"));
        tree.Add("+", new TestValue("+"));
        var results = new List<TestValue>();

        tree.Match(string.Empty, results);

        Assert.Empty(results);
    }

    [Fact]
    public void Match_TopicWithThousandsOfLevels_DoesNotOverflowTheStack()
    {
        const int Levels = 30000;
        var tree = new TopicTree<TestValue>();
        var plus = new TestValue("plus");
        var hash = new TestValue("hash");
        tree.Add(string.Join('/', Enumerable.Repeat("+", Levels)), plus);
        tree.Add(string.Join('/', Enumerable.Repeat("a", Levels - 1)) + "/#", hash);
        var results = new List<TestValue>();

        tree.Match(string.Join('/', Enumerable.Repeat("a", Levels)), results);

        Assert.Equal(["hash", "plus"], TopicTestData.SortedNames(results));
    }

    [Fact]
    public void Match_SteadyState_DoesNotAllocate()
    {
        var tree = new TopicTree<TestValue>();
        for (int i = 0; i < 1000; i++)
        {
            tree.Add($"devices/{i}/commands/#", new TestValue($"commands {i}"));
            tree.Add($"devices/{i}/telemetry", new TestValue($"telemetry {i}"));
        }

        tree.Add("devices/+/telemetry", new TestValue("all telemetry"));
        tree.Add("#", new TestValue("everything"));
        var results = new List<TestValue>(capacity: 16);
        tree.Match("devices/42/telemetry", results);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            results.Clear();
            tree.Match("devices/42/telemetry", results);
            tree.Match("devices/42/commands/reboot/now", results);
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Equal(5, results.Count);
    }

    [Fact]
    public void Add_NewFilter_ReturnsTrueAndCounts()
    {
        var tree = new TopicTree<TestValue>();

        Assert.True(tree.Add("a/b", new TestValue("1")));
        Assert.True(tree.Add("a/+", new TestValue("2")));
        Assert.True(tree.Add("#", new TestValue("3")));

        Assert.Equal(3, tree.Count);
    }

    [Fact]
    public void Add_SameValueUnderSameFilter_ReturnsFalse()
    {
        var tree = new TopicTree<TestValue>();
        var value = new TestValue("v");
        tree.Add("a/#", value);

        Assert.False(tree.Add("a/#", value));
        Assert.Equal(1, tree.Count);
    }

    [Fact]
    public void Add_SameValueUnderOtherFilter_ReturnsTrue()
    {
        var tree = new TopicTree<TestValue>();
        var value = new TestValue("v");
        tree.Add("a/#", value);

        Assert.True(tree.Add("a", value));
        Assert.True(tree.Add("a/+", value));
        Assert.Equal(3, tree.Count);
    }

    [Fact]
    public void Add_EqualButDistinctValues_ComparesByReference()
    {
        var tree = new TopicTree<string>();
        string first = new('x', 3);
        string second = new('x', 3);

        Assert.True(tree.Add("a", first));
        Assert.True(tree.Add("a", second));
        Assert.Equal(2, tree.Count);
    }

    [Theory]
    [MemberData(nameof(TopicTestData.InvalidFilters), MemberType = typeof(TopicTestData))]
    public void Add_InvalidFilter_ThrowsArgumentException(string filter)
    {
        var tree = new TopicTree<TestValue>();

        Assert.Throws<ArgumentException>(() => tree.Add(filter, new TestValue("v")));
        Assert.Equal(0, tree.Count);
    }

    [Fact]
    public void Remove_ExistingValue_ReturnsTrueAndStopsMatching()
    {
        var tree = new TopicTree<TestValue>();
        var kept = new TestValue("kept");
        var removed = new TestValue("removed");
        tree.Add("a/+", kept);
        tree.Add("a/+", removed);

        Assert.True(tree.Remove("a/+", removed));

        Assert.Equal(1, tree.Count);
        Assert.Equal(["kept"], MatchNames(tree, "a/b"));
    }

    [Theory]
    [InlineData("a/b")]
    [InlineData("a/+")]
    [InlineData("a")]
    [InlineData("a/#")]
    [InlineData("x/y/z")]
    [InlineData("a/#/b")]
    public void Remove_ValueNotUnderFilter_ReturnsFalse(string filter)
    {
        var tree = new TopicTree<TestValue>();
        var value = new TestValue("v");
        tree.Add("a/b/#", value);
        tree.Add("a/+/c", new TestValue("other"));

        Assert.False(tree.Remove(filter, value));
        Assert.Equal(2, tree.Count);
    }

    [Fact]
    public void Remove_LastValueOfBranch_PrunesEmptyNodes()
    {
        var tree = new TopicTree<TestValue>();
        var abc = new TestValue("a/b/c");
        var abd = new TestValue("a/b/d");
        var deep = new TestValue("a/+/x/y/#");
        tree.Add("a/b/c", abc);
        tree.Add("a/b/d", abd);
        tree.Add("a/+/x/y/#", deep);
        Assert.Equal(7, tree.CountNodes());

        tree.Remove("a/+/x/y/#", deep);
        Assert.Equal(4, tree.CountNodes());

        tree.Remove("a/b/c", abc);
        Assert.Equal(3, tree.CountNodes());

        tree.Remove("a/b/d", abd);
        Assert.Equal(0, tree.CountNodes());
        Assert.Equal(0, tree.Count);
    }

    [Fact]
    public void Remove_ValueOnInnerNode_KeepsNodesWithChildren()
    {
        var tree = new TopicTree<TestValue>();
        var inner = new TestValue("a/b");
        var hash = new TestValue("a/b/#");
        var leaf = new TestValue("a/b/c");
        tree.Add("a/b", inner);
        tree.Add("a/b/#", hash);
        tree.Add("a/b/c", leaf);

        tree.Remove("a/b", inner);
        tree.Remove("a/b/#", hash);

        Assert.Equal(3, tree.CountNodes());
        Assert.Equal(["a/b/c"], MatchNames(tree, "a/b/c"));
    }

    [Fact]
    public void Match_RandomFiltersAndTopics_AgreesWithReferenceMatches()
    {
        var random = new Random(20240521);
        var tree = new TopicTree<TestValue>();
        var entries = new List<(string Filter, TestValue Value)>();
        for (int i = 0; i < 600; i++)
        {
            string filter = TopicTestData.RandomFilter(random);
            var value = new TestValue($"{i}:{filter}");
            Assert.True(tree.Add(filter, value));
            entries.Add((filter, value));
        }

        AssertAgreesWithReference(tree, entries, random, topics: 2500);

        // Remove a random half, which prunes, and compare again.
        for (int i = entries.Count - 1; i >= 0; i--)
        {
            if (random.Next(2) == 0)
            {
                Assert.True(tree.Remove(entries[i].Filter, entries[i].Value));
                entries.RemoveAt(i);
            }
        }

        Assert.Equal(entries.Count, tree.Count);
        AssertAgreesWithReference(tree, entries, random, topics: 2500);

        foreach (var (filter, value) in entries)
        {
            Assert.True(tree.Remove(filter, value));
        }

        Assert.Equal(0, tree.Count);
        Assert.Equal(0, tree.CountNodes());
    }

    [Fact]
    public async Task Match_ConcurrentAddAndRemove_StableFiltersAlwaysMatchedOnce()
    {
        var tree = new TopicTree<TestValue>();
        string[] stableFilters = ["s/a", "s/+", "s/#", "+/a", "#"];
        var stable = stableFilters.Select(f => new TestValue("stable " + f)).ToArray();
        for (int i = 0; i < stableFilters.Length; i++)
        {
            tree.Add(stableFilters[i], stable[i]);
        }

        // s/a/7 is matched by s/# and # only.
        TestValue[] stableForDeepTopic = [stable[2], stable[4]];
        int done = 0;

        void Read()
        {
            var results = new List<TestValue>();
            int iterations = 0;
            while (Volatile.Read(ref done) == 0 || iterations < 100)
            {
                results.Clear();
                tree.Match("s/a", results);
                AssertEachOnce(stable, results);

                results.Clear();
                tree.Match("s/a/7", results);
                AssertEachOnce(stableForDeepTopic, results);
                iterations++;
            }
        }

        void Write()
        {
            try
            {
                var random = new Random(7);
                string[] churnFilters = ["s/a", "s/+", "s/#", "+/a", "#", "s/a/+", "s/a/7", "s/a/+/x", "c/+/#"];
                var added = new List<(string Filter, TestValue Value)>();
                for (int i = 0; i < 20000; i++)
                {
                    if (added.Count > 0 && random.Next(2) == 0)
                    {
                        int index = random.Next(added.Count);
                        Assert.True(tree.Remove(added[index].Filter, added[index].Value));
                        added.RemoveAt(index);
                    }
                    else
                    {
                        string filter = churnFilters[random.Next(churnFilters.Length)];
                        if (!filter.EndsWith('#') && random.Next(4) == 0)
                        {
                            filter += $"/{i % 10}";
                        }

                        var value = new TestValue("churn " + i);
                        Assert.True(tree.Add(filter, value));
                        added.Add((filter, value));
                    }
                }

                foreach (var (filter, value) in added)
                {
                    Assert.True(tree.Remove(filter, value));
                }
            }
            finally
            {
                Volatile.Write(ref done, 1);
            }
        }

        await Task.WhenAll(Task.Run(Read), Task.Run(Read), Task.Run(Write));

        Assert.Equal(stable.Length, tree.Count);
        Assert.Equal(["#", "+/a", "s/#", "s/+", "s/a"], MatchNames(tree, "s/a").Select(n => n["stable ".Length..]));
    }

    private static void AssertAgreesWithReference(TopicTree<TestValue> tree, List<(string Filter, TestValue Value)> entries, Random random, int topics)
    {
        var results = new List<TestValue>();
        int matched = 0;
        for (int i = 0; i < topics; i++)
        {
            string topic = TopicTestData.RandomTopic(random);
            results.Clear();
            tree.Match(topic, results);
            var expected = entries.Where(e => TopicNames.Matches(topic, e.Filter)).Select(e => e.Value);
            Assert.Equal(TopicTestData.SortedNames(expected), TopicTestData.SortedNames(results));
            matched += results.Count;
        }

        // Guards the generator: the comparison is worthless if nothing ever matches.
        Assert.True(matched > topics, $"Only {matched} matches over {topics} topics.");
    }

    private static void AssertEachOnce(TestValue[] expected, List<TestValue> results)
    {
        foreach (var value in expected)
        {
            int occurrences = 0;
            foreach (var result in results)
            {
                occurrences += ReferenceEquals(result, value) ? 1 : 0;
            }

            Assert.Equal(1, occurrences);
        }
    }

    private static string[] MatchNames(TopicTree<TestValue> tree, string topic)
    {
        var results = new List<TestValue>();
        tree.Match(topic, results);
        return TopicTestData.SortedNames(results);
    }
}
