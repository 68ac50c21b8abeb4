using System.CommandLine;
using System.CommandLine.Invocation;
using Iot.Cli.Commands;

namespace Iot.Cli;

/// <summary>The <c>iot</c> command line: the root command, its global options and every <see cref="CommandGroup"/>.</summary>
internal static class CliApp
{
    /// <summary>Builds the root command writing to <paramref name="output"/> and <paramref name="error"/>.</summary>
    public static RootCommand Create(TextWriter output, TextWriter error, TimeProvider time)
    {
        var options = new GlobalOptions();
        var root = new RootCommand(
            "iot: the Iot platform's admin CLI over its HTTP API. Tables for people, --json for scripts. "
            + "Exit codes: 0 ok, 1 API error, 2 usage, 3 cannot connect or timed out, 4 wait ended first, 5 command failed.");
        foreach (var option in options.All)
        {
            root.Options.Add(option);
        }

        var actions = new CliActions(options, output, error, time);
        foreach (var group in CommandGroup.Discover().Select(g => g.Create(actions)).OrderBy(c => c.Name, StringComparer.Ordinal))
        {
            root.Subcommands.Add(group);
        }

        return root;
    }

    /// <summary>Parses and runs <paramref name="args"/>; returns the exit code (<see cref="ExitCodes"/>).</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        var parse = Create(output, error, TimeProvider.System).Parse(args);
        var configuration = new InvocationConfiguration { Output = output, Error = error };
        if (parse.Action is ParseErrorAction parseError)
        {
            // A usage error: the errors and a pointer to the help, not the whole help text; exit code 2, not 1 (an API error).
            parseError.ShowHelp = false;
            await parse.InvokeAsync(configuration, cancellationToken).ConfigureAwait(false);
            await error.WriteLineAsync("Run 'iot --help' (or 'iot <command> --help') for usage.").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        return await parse.InvokeAsync(configuration, cancellationToken).ConfigureAwait(false);
    }
}
