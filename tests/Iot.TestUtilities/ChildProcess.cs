using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Iot.TestUtilities;

/// <summary>
/// A child process whose stdout and stderr are captured line by line, so that a test can wait for a line
/// (with a deadline) and show everything the process printed when something goes wrong.
/// </summary>
public sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly object _gate = new();
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly StringBuilder _combined = new();
    private readonly List<string> _stdoutLines = [];
    private readonly List<(Func<string, bool> Match, TaskCompletionSource<string> Found)> _waiters = [];
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stderrClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ChildProcess(Process process, string commandLine)
    {
        _process = process;
        CommandLine = commandLine;
    }

    /// <summary>The command as it was started, for messages.</summary>
    public string CommandLine { get; }

    /// <summary>The operating system's process id.</summary>
    public int Id => _process.Id;

    /// <summary>True once the process has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>The exit code; only valid once <see cref="HasExited"/> is true.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>Everything printed so far on stdout.</summary>
    public string StandardOutput
    {
        get
        {
            lock (_gate)
            {
                return _stdout.ToString();
            }
        }
    }

    /// <summary>Everything printed so far on stderr.</summary>
    public string StandardError
    {
        get
        {
            lock (_gate)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>Stdout and stderr interleaved as they arrived (stderr lines prefixed with <c>!</c>).</summary>
    public string Output
    {
        get
        {
            lock (_gate)
            {
                return _combined.ToString();
            }
        }
    }

    /// <summary>A snapshot of the stdout lines received so far.</summary>
    public IReadOnlyList<string> OutputLines
    {
        get
        {
            lock (_gate)
            {
                return _stdoutLines.ToArray();
            }
        }
    }

    /// <summary>Starts <paramref name="fileName"/> with <paramref name="arguments"/> (no shell), stdin closed at once.</summary>
    /// <param name="fileName">The program, a path or a name found on PATH.</param>
    /// <param name="arguments">Arguments, each passed as is.</param>
    /// <param name="workingDirectory">The working directory; the current one when null.</param>
    /// <param name="environment">Variables to set (a null value removes the variable).</param>
    public static ChildProcess Start(
        string fileName,
        IEnumerable<string> arguments,
        string? workingDirectory = null,
        IReadOnlyDictionary<string, string?>? environment = null)
    {
        ArgumentNullException.ThrowIfNull(fileName);
        ArgumentNullException.ThrowIfNull(arguments);

        var info = new ProcessStartInfo(fileName)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        if (environment is not null)
        {
            foreach (var (name, value) in environment)
            {
                if (value is null)
                {
                    info.Environment.Remove(name);
                }
                else
                {
                    info.Environment[name] = value;
                }
            }
        }

        var commandLine = string.Join(' ', new[] { fileName }.Concat(info.ArgumentList.Select(Quote)));
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var child = new ChildProcess(process, commandLine);
        process.OutputDataReceived += (_, e) => child.OnLine(e.Data, isError: false);
        process.ErrorDataReceived += (_, e) => child.OnLine(e.Data, isError: true);

        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            process.Dispose();
            throw new InvalidOperationException($"Could not start `{commandLine}`: {ex.Message}", ex);
        }

        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Runs a program to completion; kills it (whole tree) when it outlives <paramref name="timeout"/>.</summary>
    public static async Task<ProcessResult> RunAsync(
        string fileName,
        IEnumerable<string> arguments,
        TimeSpan timeout,
        string? workingDirectory = null,
        IReadOnlyDictionary<string, string?>? environment = null,
        CancellationToken cancellationToken = default)
    {
        await using var child = Start(fileName, arguments, workingDirectory, environment);
        var exited = await child.WaitForExitAsync(timeout, cancellationToken);
        if (!exited)
        {
            child.Kill();
            await child.WaitForExitAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        }

        return new ProcessResult(child.CommandLine, exited ? child.ExitCode : -1, child.StandardOutput, child.StandardError, !exited);
    }

    /// <summary>Waits for the process to exit and for its output to be drained; false when the time ran out.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            await Task.WhenAll(_stdoutClosed.Task, _stderrClosed.Task).WaitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Waits for a stdout line that matches <paramref name="match"/> (lines already received count).</summary>
    /// <exception cref="TimeoutException">No such line before the deadline, or the process ended first; the message holds the output.</exception>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout, string? description = null)
    {
        ArgumentNullException.ThrowIfNull(match);
        var found = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            var existing = _stdoutLines.FirstOrDefault(match);
            if (existing is not null)
            {
                return existing;
            }

            _waiters.Add((match, found));
        }

        try
        {
            Task finished;
            try
            {
                finished = await Task.WhenAny(found.Task, _stdoutClosed.Task).WaitAsync(timeout);
            }
            catch (TimeoutException ex)
            {
                throw new TimeoutException(
                    $"`{CommandLine}` did not print {description ?? "the expected line"} within {timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s.\n{Output}", ex);
            }

            if (finished == found.Task)
            {
                return await found.Task;
            }

            // Stdout closed: one last look, since the line may have been the very last one.
            lock (_gate)
            {
                var last = _stdoutLines.FirstOrDefault(match);
                if (last is not null)
                {
                    return last;
                }
            }

            throw new TimeoutException($"`{CommandLine}` ended before printing {description ?? "the expected line"}.\n{Output}");
        }
        finally
        {
            lock (_gate)
            {
                _waiters.RemoveAll(w => w.Found == found);
            }
        }
    }

    /// <summary>SIGKILL to the process and all its children (as <c>kill -9</c>).</summary>
    public void Kill()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }

    /// <summary>Sends a signal with <c>kill -SIGNAL pid</c> (for example <c>TERM</c> for a graceful stop).</summary>
    public async Task SignalAsync(string signal)
    {
        if (HasExited)
        {
            return;
        }

        var result = await RunAsync("kill", [$"-{signal}", Id.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10));
        if (result.ExitCode != 0 && !HasExited)
        {
            throw new InvalidOperationException($"Could not signal process {Id}: {result}");
        }
    }

    /// <summary>Kills the process if it still runs.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!HasExited)
        {
            Kill();
            await WaitForExitAsync(TimeSpan.FromSeconds(10));
        }

        _process.Dispose();
    }

    private static string Quote(string argument) =>
        argument.Length > 0 && argument.All(c => char.IsLetterOrDigit(c) || "-_./:=,@%+".Contains(c, StringComparison.Ordinal))
            ? argument
            : "'" + argument.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private void OnLine(string? line, bool isError)
    {
        if (line is null)
        {
            (isError ? _stderrClosed : _stdoutClosed).TrySetResult();
            return;
        }

        List<TaskCompletionSource<string>>? matched = null;
        lock (_gate)
        {
            (isError ? _stderr : _stdout).Append(line).Append('\n');
            _combined.Append(isError ? "! " : "  ").Append(line).Append('\n');
            if (!isError)
            {
                _stdoutLines.Add(line);
                foreach (var waiter in _waiters)
                {
                    if (waiter.Match(line))
                    {
                        (matched ??= []).Add(waiter.Found);
                    }
                }
            }
        }

        if (matched is not null)
        {
            foreach (var found in matched)
            {
                found.TrySetResult(line);
            }
        }
    }
}
