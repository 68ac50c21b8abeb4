using System.Globalization;
using System.Text.Json;

namespace Iot.Simulator.Reporting;

/// <summary>
/// Prints one status line per interval (rewritten in place on a terminal, one line each otherwise), the first
/// errors (to stderr, up to a limit) and the final summary. The only writer of the console during a run.
/// </summary>
internal sealed class ProgressReporter(SimulatorStats stats, TextWriter output, TextWriter error, bool inPlace, TimeProvider timeProvider)
{
    /// <summary>Errors printed in full; the rest are only counted.</summary>
    public const int MaxPrintedErrors = 20;

    private readonly object _gate = new();
    private readonly long _started = timeProvider.GetTimestamp();
    private int _printedErrors;
    private int _lastLineLength;

    /// <summary>Time since the reporter was created (the start of the run).</summary>
    public TimeSpan Elapsed => timeProvider.GetElapsedTime(_started);

    /// <summary>Prints a status line every <paramref name="interval"/> until cancelled.</summary>
    public async Task RunAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(interval, timeProvider);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                WriteStatus();
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The run is over.
        }
    }

    /// <summary>Prints the current status line.</summary>
    public void WriteStatus()
    {
        var line = StatusLine(stats.Snapshot(), Elapsed);
        lock (_gate)
        {
            if (inPlace)
            {
                output.Write('\r' + line.PadRight(_lastLineLength));
                _lastLineLength = line.Length;
            }
            else
            {
                output.WriteLine(line);
            }

            output.Flush();
        }
    }

    /// <summary>Counts an error and prints it while under <see cref="MaxPrintedErrors"/>.</summary>
    public void ReportError(string deviceId, string message)
    {
        stats.Error();
        lock (_gate)
        {
            if (_printedErrors > MaxPrintedErrors)
            {
                return;
            }

            EndInPlaceLine();
            error.WriteLine(++_printedErrors > MaxPrintedErrors
                ? $"error: more than {MaxPrintedErrors} errors; the rest are only counted"
                : $"error: {deviceId}: {message}");
            error.Flush();
        }
    }

    /// <summary>Prints a message on its own line (start-up notes, fatal errors).</summary>
    public void WriteLine(string message, bool isError = false)
    {
        lock (_gate)
        {
            EndInPlaceLine();
            (isError ? error : output).WriteLine(message);
            (isError ? error : output).Flush();
        }
    }

    /// <summary>Prints the final summary, and the JSON summary line when asked.</summary>
    public void WriteSummary(bool json)
    {
        var snapshot = stats.Snapshot();
        var elapsed = Elapsed;
        lock (_gate)
        {
            EndInPlaceLine();
            output.WriteLine(StatusLine(snapshot, elapsed));
            output.WriteLine(SummaryText(snapshot, elapsed));
            if (json)
            {
                output.WriteLine(SummaryJson(snapshot, elapsed));
            }

            output.Flush();
        }
    }

    /// <summary><c>t=12s connected=100/100 sent=1180 acked=1180 events=12 commands=3 answered=3 errors=0 reconnects=1</c>.</summary>
    public static string StatusLine(StatsSnapshot s, TimeSpan elapsed)
    {
        ArgumentNullException.ThrowIfNull(s);
        return string.Create(CultureInfo.InvariantCulture,
            $"t={(long)elapsed.TotalSeconds}s connected={s.Connected}/{s.Devices} sent={s.Sent} acked={s.Acked} events={s.Events} commands={s.Commands} answered={s.Answered} errors={s.Errors} reconnects={s.Reconnects}");
    }

    /// <summary>The human summary: totals and rates.</summary>
    public static string SummaryText(StatsSnapshot s, TimeSpan elapsed)
    {
        ArgumentNullException.ThrowIfNull(s);
        var seconds = Math.Max(elapsed.TotalSeconds, 0.001);
        return string.Create(CultureInfo.InvariantCulture,
            $"""
            summary: {s.Devices} devices for {elapsed.TotalSeconds:0.0} s
              connected {s.EverConnected}/{s.Devices} at least once, {s.Connected} at the end, {s.Reconnects} reconnects
              sent {s.Sent} ({s.Sent / seconds:0.0}/s), acked {s.Acked} ({s.Acked / seconds:0.0}/s), events {s.Events}, dropped on purpose {s.Dropped}, out of order {s.OutOfOrder}
              commands {s.Commands}, answered {s.Answered}, errors {s.Errors}{(s.Registered > 0 ? $", registered {s.Registered}" : "")}
            """);
    }

    /// <summary>The summary as one JSON line, for scripts and tests.</summary>
    public static string SummaryJson(StatsSnapshot s, TimeSpan elapsed)
    {
        ArgumentNullException.ThrowIfNull(s);
        var seconds = Math.Max(elapsed.TotalSeconds, 0.001);
        return JsonSerializer.Serialize(new
        {
            devices = s.Devices,
            elapsedSeconds = Math.Round(elapsed.TotalSeconds, 3),
            connected = s.Connected,
            everConnected = s.EverConnected,
            connects = s.Connects,
            reconnects = s.Reconnects,
            sent = s.Sent,
            acked = s.Acked,
            sentPerSecond = Math.Round(s.Sent / seconds, 1),
            dropped = s.Dropped,
            outOfOrder = s.OutOfOrder,
            events = s.Events,
            commands = s.Commands,
            answered = s.Answered,
            errors = s.Errors,
            registered = s.Registered,
        });
    }

    private void EndInPlaceLine()
    {
        if (inPlace && _lastLineLength > 0)
        {
            output.WriteLine();
            _lastLineLength = 0;
        }
    }
}
