using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;

namespace Iot.Streams.Sinks.Influx;

/// <summary>Writes one batch of line protocol (one point per line, millisecond timestamps) to InfluxDB.</summary>
internal interface IInfluxWriter
{
    /// <summary>Writes the lines and says how InfluxDB answered; throws only when <paramref name="cancellationToken"/> is cancelled.</summary>
    Task<WriteResult> WriteAsync(IReadOnlyList<string> lines, CancellationToken cancellationToken);
}

/// <summary>How InfluxDB answered a write: what the sink does next.</summary>
internal enum WriteOutcome
{
    /// <summary>2xx: the points are stored; the offset may be committed.</summary>
    Accepted,

    /// <summary>
    /// 400 or 422: bad data (for example a field type conflict: InfluxDB writes the valid points of the batch and drops
    /// the conflicting ones). Retrying cannot help: the batch is counted, logged and skipped.
    /// </summary>
    Rejected,

    /// <summary>413: the request is larger than the server takes. The batch is split in halves; a single point is rejected.</summary>
    TooLarge,

    /// <summary>Anything else (429, 5xx, 401/403/404, network errors, timeouts): retry later, never skip.</summary>
    Retry,
}

/// <summary>The answer to one write.</summary>
/// <param name="Outcome">What the sink does next.</param>
/// <param name="Detail">The status and InfluxDB's message, for the log ("" when accepted).</param>
/// <param name="RetryAfter">The server's <c>Retry-After</c> (429, 503), when it sent one.</param>
/// <param name="Dropped">For a rejected batch: the points InfluxDB reported as dropped (<c>dropped=N</c>), when it said.</param>
internal readonly record struct WriteResult(WriteOutcome Outcome, string Detail, TimeSpan? RetryAfter = null, int? Dropped = null)
{
    public static WriteResult Accepted { get; } = new(WriteOutcome.Accepted, "");

    /// <summary>Classifies a non-2xx status as both InfluxDB versions answer it (InfluxDB.Client's retry rule plus our own for 4xx).</summary>
    public static WriteResult FromStatus(int status, string message, TimeSpan? retryAfter)
    {
        var outcome = status switch
        {
            (int)HttpStatusCode.BadRequest or (int)HttpStatusCode.UnprocessableEntity => WriteOutcome.Rejected,
            (int)HttpStatusCode.RequestEntityTooLarge => WriteOutcome.TooLarge,
            _ => WriteOutcome.Retry,
        };
        return new WriteResult(outcome, $"{status} {Truncate(message)}", retryAfter, outcome == WriteOutcome.Rejected ? DroppedPoints(message) : null);
    }

    private static int? DroppedPoints(string message)
    {
        var match = Regex.Match(message, @"dropped=(\d+)", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
        return match.Success && int.TryParse(match.Groups[1].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var dropped) ? dropped : null;
    }

    private static string Truncate(string text) => text.Length <= 500 ? text.Trim() : text[..500];
}
