using System.CommandLine;
using Iot.Cli.Http;

namespace Iot.Cli.Commands;

/// <summary>
/// Runs command actions the same way: a <see cref="CliContext"/> from the global options, and every failure turned
/// into a message on stderr and its exit code (<see cref="ExitCodes"/>).
/// </summary>
internal sealed class CliActions(GlobalOptions options, TextWriter output, TextWriter error, TimeProvider time)
{
    /// <summary>Sets <paramref name="command"/>'s action to <paramref name="run"/>, which returns the exit code.</summary>
    public Command Run(Command command, Func<CliContext, CancellationToken, Task<int>> run)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(run);
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var context = new CliContext(parse, options, output, error, time);
            try
            {
                return await run(context, cancellationToken).ConfigureAwait(false);
            }
            catch (ApiException ex)
            {
                // With --json the problem details go to stdout too: a script reads e.g. the commandId of a 504.
                if (context.Json && ex.Response is { Body.Length: > 0 } response)
                {
                    context.WriteJson(response);
                }

                await error.WriteLineAsync($"error: {ex.Status} {ex.Message}").ConfigureAwait(false);
                return ExitCodes.ApiError;
            }
            catch (UnreachableException ex)
            {
                await error.WriteLineAsync($"error: {ex.Message}").ConfigureAwait(false);
                return ExitCodes.Unreachable;
            }
            catch (UsageException ex)
            {
                await error.WriteLineAsync($"error: {ex.Message}").ConfigureAwait(false);
                return ExitCodes.Usage;
            }
        });
        return command;
    }
}
