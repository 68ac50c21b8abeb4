using System.Text.RegularExpressions;

namespace Iot.Broker.IntegrationTests.QuickStart;

/// <summary>
/// The README's "Quick start" section as data: its shell commands (one per line in its ```sh blocks, comments and
/// blank lines left out) and the dashboard address its text names. The quick-start test runs exactly these.
/// </summary>
internal sealed partial record ReadmeQuickStart(IReadOnlyList<string> Commands, string DashboardUrl)
{
    public const string Heading = "## Quick start";

    public static ReadmeQuickStart Read(string readmePath)
    {
        var text = File.ReadAllText(readmePath).Replace("\r\n", "\n", StringComparison.Ordinal);
        var start = text.IndexOf("\n" + Heading + "\n", StringComparison.Ordinal);
        if (start < 0)
        {
            throw new InvalidOperationException($"{readmePath} has no '{Heading}' section.");
        }

        var end = text.IndexOf("\n## ", start + Heading.Length + 2, StringComparison.Ordinal);
        var section = end < 0 ? text[start..] : text[start..end];

        var commands = new List<string>();
        foreach (Match block in CodeBlock().Matches(section))
        {
            foreach (var raw in block.Groups["body"].Value.Split('\n'))
            {
                var line = raw.Trim();
                if (line.Length > 0 && !line.StartsWith('#'))
                {
                    commands.Add(line);
                }
            }
        }

        var url = DashboardAddress().Match(section);
        if (!url.Success)
        {
            throw new InvalidOperationException($"The '{Heading}' section of {readmePath} names no dashboard address (http://localhost:8080/).");
        }

        return new ReadmeQuickStart(commands, url.Value);
    }

    /// <summary>
    /// The command with the README's fixed ports replaced by the ones the test's broker bound (tests never use fixed
    /// ports): <c>localhost:1883</c> and <c>-p 1883</c> become the MQTT port, <c>localhost:8080</c> the HTTP port.
    /// </summary>
    public static string WithPorts(string command, int mqttPort, int httpPort) =>
        command
            .Replace("localhost:1883", $"localhost:{mqttPort}", StringComparison.Ordinal)
            .Replace("-p 1883", $"-p {mqttPort}", StringComparison.Ordinal)
            .Replace("localhost:8080", $"localhost:{httpPort}", StringComparison.Ordinal);

    [GeneratedRegex("```sh\\n(?<body>.*?)```", RegexOptions.Singleline)]
    private static partial Regex CodeBlock();

    [GeneratedRegex(@"http://localhost:8080/(?=[\s`)]|$)")]
    private static partial Regex DashboardAddress();
}
