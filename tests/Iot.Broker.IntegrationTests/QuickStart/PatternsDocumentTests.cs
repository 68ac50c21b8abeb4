using System.Text.RegularExpressions;
using Iot.TestUtilities;

namespace Iot.Broker.IntegrationTests.QuickStart;

/// <summary>The broker the docs/patterns.md examples run against (one, as a user's development broker, with the claim check the page turns on).</summary>
[CollectionDefinition(Name)]
public sealed class PatternsBroker : ICollectionFixture<PatternsBrokerFixture>
{
    public const string Name = "docs/patterns.md";
}

/// <summary>A development broker with the claim check of the page's "Claim check" section.</summary>
public sealed class PatternsBrokerFixture() : BrokerFixture(["--Iot:ClaimCheck:Enabled=true", "--Iot:ClaimCheck:Topics:0=devices/+/files/#"]);

/// <summary>
/// docs/patterns.md's examples, run as written (each section's shell blocks with bash, <c>curl</c>, <c>jq</c>, Debian's
/// mosquitto clients and the built <c>iot</c>) against a real broker, with its free ports in place of 1883 and 8080; each
/// must print what the section says it shows, so that the page cannot drift from the API.
/// </summary>
[Collection(PatternsBroker.Name)]
[Trait("Category", "Integration")]
public sealed partial class PatternsDocumentTests(PatternsBrokerFixture broker)
{
    private static readonly TimeSpan BlockTimeout = TimeSpan.FromMinutes(2);

    [Theory]
    [InlineData("Commands versus events", new[] { "\"type\": \"iot.device.event.alarm\"", "\"status\": \"Completed\"", "\"target\": 24" })]
    [InlineData("Competing consumers", new[] { "2 completed, 0 failed.", "{\"job\":4}", "204" })]
    [InlineData("Response queues", new[] { "\"replySessionId\": \"op-42\"", "\"deviceId\": \"dev-7\"", "\"firmware\": \"1.4.2\"", "\"subject\": \"applied\"", "\"applied\": true" })]
    [InlineData("Sessions and checkpoints", new[] { "{\"done\":[\"paid\"]}", "Created consumer group 'audit'." })]
    [InlineData("Dead-letter handling", new[] { "\"deadLetterReason\": \"BadInput\"", "Resubmitted 1 dead letter(s) to 'fragile'." })]
    [InlineData("Claim check", new[] { "{\"size\":900000,", "same bytes" })]
    [InlineData("Load leveling", new[] { "iot_mqtt_durable_backlog_saturated 0", "iot_mqtt_limit{limit=\"max_pending_durable_writes\"} 16384", "true" })]
    [InlineData("Crossover between services", new[] { "\"type\":\"Iot.Device.Connected\",\"subject\":\"$iot/devices/dev-9\"", "\"reason\":\"ClientDisconnect\"" })]
    public async Task Section_RunAsWritten_ShowsWhatItSays(string heading, string[] expected)
    {
        var iot = Path.Combine(RepositoryPaths.Root, "src", "Iot.Cli", "bin", RepositoryPaths.Configuration, "net10.0", "iot.dll");
        Assert.True(File.Exists(iot), $"{iot} is missing: build the solution first (dotnet build -c {RepositoryPaths.Configuration} Iot.sln).");
        var script = $"iot() {{ dotnet '{iot}' --url \"$IOT\" \"$@\"; }}\n{string.Join("\n", Blocks(heading))}\nwait\n"
            .Replace("-h localhost -p 1883", $"-h {BrokerFixture.Host} -p {broker.MqttPort}", StringComparison.Ordinal);
        var result = await ChildProcess.RunAsync("bash", ["-c", script], BlockTimeout, RepositoryPaths.Root,
            new Dictionary<string, string?> { ["IOT"] = broker.HttpBaseUri.ToString().TrimEnd('/') });

        Assert.False(result.TimedOut, result.ToString());
        foreach (var text in expected)
        {
            // The CLI writes its notes ("Created ...") to stderr, as a user sees them in the terminal.
            Assert.True((result.StandardOutput + result.StandardError).Contains(text, StringComparison.Ordinal), $"'{heading}' did not print {text}: {result}");
        }
    }

    [Fact]
    public void Page_HasEveryPatternOfTheGuidance()
    {
        var headings = Headings().Matches(Page()).Select(m => m.Groups["h"].Value).ToList();
        Assert.Equal(["Commands versus events", "Competing consumers", "Load leveling", "Claim check", "Response queues",
            "Sessions and checkpoints", "Dead-letter handling", "Crossover between services"], headings);
    }

    private static string Page() => File.ReadAllText(Path.Combine(RepositoryPaths.Root, "docs", "patterns.md")).Replace("\r\n", "\n", StringComparison.Ordinal);

    /// <summary>The shell blocks of the section under <c>## {heading}</c>.</summary>
    private static List<string> Blocks(string heading)
    {
        var page = Page();
        var start = page.IndexOf($"\n## {heading}\n", StringComparison.Ordinal);
        Assert.True(start >= 0, $"docs/patterns.md has no section '{heading}'");
        var end = page.IndexOf("\n## ", start + 4, StringComparison.Ordinal);
        var section = end < 0 ? page[start..] : page[start..end];
        var blocks = ShellBlock().Matches(section).Select(m => m.Groups["body"].Value).ToList();
        Assert.NotEmpty(blocks);
        return blocks;
    }

    [GeneratedRegex("```sh\\n(?<body>.*?)```", RegexOptions.Singleline)]
    private static partial Regex ShellBlock();

    [GeneratedRegex("^## (?<h>.+)$", RegexOptions.Multiline)]
    private static partial Regex Headings();
}
