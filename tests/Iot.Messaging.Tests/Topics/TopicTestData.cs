namespace Iot.Messaging.Tests.Topics;

/// <summary>A value stored in the trees; distinct instances are distinct values.</summary>
public sealed class TestValue(string name)
{
    public string Name { get; } = name;

    public override string ToString() => Name;
}

/// <summary>Examples of MQTT 5.0 §4.7 and random topics and filters shared by the topic tests.</summary>
public static class TopicTestData
{
    private static readonly string[] TopicLevels = ["a", "b", "c", "", "$s", "$"];
    private static readonly string[] FilterLevels = ["a", "b", "c", "", "$s", "+", "+"];

    /// <summary>(topic name, topic filter, matches) from §4.7 plus edge cases.</summary>
    public static TheoryData<string, string, bool> SpecMatches => new()
    {
        // §4.7.1.2 multi-level wildcard.
        { "sport/tennis/player1", "sport/tennis/player1/#", true },
        { "sport/tennis/player1/ranking", "sport/tennis/player1/#", true },
        { "sport/tennis/player1/score/wimbledon", "sport/tennis/player1/#", true },
        { "sport/tennis/player2", "sport/tennis/player1/#", false },
        { "sport", "sport/#", true },
        { "sport/tennis", "#", true },
        { "sport", "#", true },

        // §4.7.1.3 single-level wildcard.
        { "sport/tennis/player1", "sport/tennis/+", true },
        { "sport/tennis/player2", "sport/tennis/+", true },
        { "sport/tennis/player1/ranking", "sport/tennis/+", false },
        { "sport", "sport/+", false },
        { "sport/", "sport/+", true },
        { "sport/tennis/player1", "sport/+/player1", true },
        { "sport/tennis/player1/ranking", "+/tennis/#", true },
        { "/finance", "+/+", true },
        { "/finance", "/+", true },
        { "/finance", "+", false },

        // §4.7.2 topics beginning with $.
        { "$SYS/monitor/Clients", "#", false },
        { "$SYS/monitor/Clients", "+/monitor/Clients", false },
        { "$SYS/monitor/Clients", "$SYS/#", true },
        { "$SYS/monitor/Clients", "$SYS/monitor/+", true },
        { "$SYS", "+", false },
        { "$SYS", "$SYS/#", true },
        { "x/$SYS", "x/+", true },
        { "x/$SYS", "+/$SYS", true },

        // §4.7.3 topic semantics: case-sensitive, spaces allowed, a leading '/' is a distinct level.
        { "ACCOUNTS", "Accounts", false },
        { "Accounts", "Accounts", true },
        { "Accounts payable", "Accounts payable", true },
        { "/finance", "finance", false },
        { "finance", "/finance", false },

        // Empty levels.
        { "/", "/", true },
        { "/", "+/+", true },
        { "/", "+", false },
        { "/", "#", true },
        { "a//b", "a/+/b", true },
        { "a//b", "a//b", true },
        { "a/b", "a//b", false },
        { "a/", "a/#", true },

        // '#' also matches the parent level, '+' needs exactly one level.
        { "a/b", "a/+/#", true },
        { "a", "a/+/#", false },
        { "a/b/c", "a/+", false },
        { "a/b", "+/#", true },
        { "a", "+/#", true },
        { "a/b/c", "a/b", false },
        { "a/b", "a/b/c", false },
    };

    public static TheoryData<string> ValidFilters => new()
    {
        "#", "sport/tennis/#", "+", "+/tennis/#", "sport/+/player1", "sport/+", "+/+", "/+", "/", "a//b",
        "$SYS/#", "Accounts payable", "ü/€/🙂", "+/#", "$share/group/a",
    };

    public static TheoryData<string> InvalidFilters => new()
    {
        "", "sport/tennis#", "sport/tennis/#/ranking", "sport+", "a/#/", "##", "a/b+", "+a", "#/a", "++",
    };

    public static TheoryData<string> ValidTopicNames => new()
    {
        "sport/tennis", "/", "/finance", "$SYS/monitor/Clients", "Accounts payable", "a//b", " ", "ü/€/🙂",
    };

    public static TheoryData<string> InvalidTopicNames => new()
    {
        "", "sport/+", "sport/#", "+", "#", "a+b", "a#",
    };

    /// <summary>A topic name of 1 to 4 levels over a small alphabet, so that random filters often match.</summary>
    public static string RandomTopic(Random random)
    {
        int count = random.Next(1, 5);
        var levels = new string[count];
        for (int i = 0; i < count; i++)
        {
            levels[i] = TopicLevels[random.Next(TopicLevels.Length)];
        }

        // A single empty level is the empty string, which is not a topic name.
        return count == 1 && levels[0].Length == 0 ? RandomTopic(random) : string.Join('/', levels);
    }

    /// <summary>A topic filter of 1 to 4 levels, sometimes ending in '#'.</summary>
    public static string RandomFilter(Random random)
    {
        int count = random.Next(1, 5);
        var levels = new string[count];
        for (int i = 0; i < count; i++)
        {
            levels[i] = FilterLevels[random.Next(FilterLevels.Length)];
        }

        if (random.Next(3) == 0)
        {
            levels[count - 1] = "#";
        }

        return count == 1 && levels[0].Length == 0 ? RandomFilter(random) : string.Join('/', levels);
    }

    /// <summary>The names of <paramref name="values"/>, sorted, for comparing results as multisets.</summary>
    public static string[] SortedNames(IEnumerable<TestValue> values)
    {
        var names = values.Select(v => v.Name).ToArray();
        Array.Sort(names, StringComparer.Ordinal);
        return names;
    }
}
