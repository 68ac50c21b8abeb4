using Iot.TestUtilities;

namespace Iot.Cli.Tests;

/// <summary>docs/operations.md shows every command of the CLI with an example, so that the guide cannot fall behind.</summary>
public sealed class CliDocumentationTests
{
    [Fact]
    public void OperationsGuide_HasAnExampleOfEveryCommand()
    {
        var guide = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "docs", "operations.md"));
        var section = guide[guide.IndexOf("## Admin CLI", StringComparison.Ordinal)..];
        var root = CliApp.Create(TextWriter.Null, TextWriter.Null, TimeProvider.System);
        var missing = (from g in root.Subcommands
                       from c in g.Subcommands
                       let example = $"iot {g.Name} {c.Name}"
                       where !section.Contains(example, StringComparison.Ordinal)
                       select example).ToList();
        Assert.True(missing.Count == 0, "docs/operations.md, '## Admin CLI', has no example of: " + string.Join(", ", missing));
    }
}
