namespace Iot.TestUtilities;

/// <summary>How a child process ended, with everything it printed.</summary>
/// <param name="CommandLine">The command as it was run, for messages.</param>
/// <param name="ExitCode">The exit code; -1 when the process was killed after its time-out.</param>
/// <param name="StandardOutput">Everything written to stdout.</param>
/// <param name="StandardError">Everything written to stderr.</param>
/// <param name="TimedOut">True when the process outlived its time-out and was killed.</param>
public sealed record ProcessResult(string CommandLine, int ExitCode, string StandardOutput, string StandardError, bool TimedOut)
{
    /// <summary>Stdout split into lines, without empty trailing lines.</summary>
    public IReadOnlyList<string> OutputLines =>
        StandardOutput.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0).ToArray();

    /// <summary>Throws with the whole output when the process timed out or exited with a non-zero code.</summary>
    public ProcessResult EnsureSuccess()
    {
        if (TimedOut || ExitCode != 0)
        {
            throw new InvalidOperationException($"Command failed: {this}");
        }

        return this;
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"`{CommandLine}` {(TimedOut ? "timed out and was killed" : $"exited with {ExitCode}")}\n--- stdout ---\n{StandardOutput}\n--- stderr ---\n{StandardError}";
}
