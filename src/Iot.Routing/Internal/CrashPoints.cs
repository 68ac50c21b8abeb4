using System.Diagnostics;
using System.Globalization;

namespace Iot.Routing.Internal;

/// <summary>
/// Test-only fault injection: <c>Iot:Testing:CrashAt=&lt;point&gt;</c> (or <c>&lt;point&gt;:&lt;n&gt;</c> for its n-th
/// pass) kills the process with SIGKILL at that point, as <c>kill -9</c> would, so that a crash test can stop the broker
/// between two writes deterministically. Unset (always, outside tests) every point is a single field test.
/// </summary>
internal sealed class CrashPoints
{
    /// <summary>The configuration key.</summary>
    public const string ConfigurationKey = "Iot:Testing:CrashAt";

    /// <summary>Inside the command's transaction: its queue message is written, its record not yet.</summary>
    public const string CommandMessageWritten = "command-message-written";

    /// <summary>Inside the command's transaction: message and record are written, not yet committed.</summary>
    public const string CommandRecordWritten = "command-record-written";

    /// <summary>The command is committed; the caller (HTTP 202, MQTT PUBACK) has not been answered yet.</summary>
    public const string CommandCommitted = "command-committed";

    /// <summary>Inside a device answer's transaction: the command's final status and answer are written, its reply not yet.</summary>
    public const string AnswerRecordWritten = "answer-record-written";

    /// <summary>Inside a device answer's transaction: status, answer and reply message are written, not yet committed.</summary>
    public const string AnswerReplyWritten = "answer-reply-written";

    /// <summary>The answer is committed; the device's PUBACK has not been sent yet.</summary>
    public const string AnswerCommitted = "answer-committed";

    private readonly string? _point;
    private int _remaining;

    private CrashPoints(string? point, int pass)
    {
        _point = point;
        _remaining = pass;
    }

    /// <summary>No crash point: what every production process uses.</summary>
    public static CrashPoints None { get; } = new(null, 0);

    /// <summary>Parses <c>point</c> or <c>point:n</c> (n ≥ 1); null or empty means none.</summary>
    public static CrashPoints Parse(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return None;
        }

        var colon = value.LastIndexOf(':');
        return colon > 0 && int.TryParse(value.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var pass) && pass >= 1
            ? new CrashPoints(value[..colon], pass)
            : new CrashPoints(value, 1);
    }

    /// <summary>Kills the process when <paramref name="point"/> is the configured point and this is its configured pass.</summary>
    public void Reached(string point)
    {
        if (_point is null || !string.Equals(point, _point, StringComparison.Ordinal) || Interlocked.Decrement(ref _remaining) != 0)
        {
            return;
        }

        Console.Error.WriteLine("Iot:Testing:CrashAt: killing the process at " + point);
        using var self = Process.GetCurrentProcess();
        self.Kill();
    }
}
