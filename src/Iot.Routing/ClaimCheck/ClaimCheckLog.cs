using Microsoft.Extensions.Logging;

namespace Iot.Routing.ClaimCheck;

/// <summary>The claim check's log messages (Routing's event ids, 2900-2909).</summary>
internal static partial class ClaimCheckLog
{
    [LoggerMessage(EventId = 2900, Level = LogLevel.Debug, Message = "Claim check: stored blob {Id} ({Bytes} bytes)")]
    public static partial void Stored(ILogger logger, string id, long bytes);

    [LoggerMessage(EventId = 2901, Level = LogLevel.Warning, Message = "Claim check: could not delete blob {Id} of a message that was not written; the sweeper deletes it at the retention")]
    public static partial void DiscardFailed(ILogger logger, string id, Exception exception);

    [LoggerMessage(EventId = 2902, Level = LogLevel.Information, Message = "Claim check: swept {Orphans} orphaned pending blobs and {Expired} blobs past their retention")]
    public static partial void Swept(ILogger logger, int orphans, int expired);

    [LoggerMessage(EventId = 2903, Level = LogLevel.Warning, Message = "Claim check: the sweep failed; it runs again in {Interval}")]
    public static partial void SweepFailed(ILogger logger, TimeSpan interval, Exception exception);

    [LoggerMessage(EventId = 2904, Level = LogLevel.Information, Message = "Claim check on: {Store} store, payloads over {Threshold} bytes on {Topics} topic filters, queue sends {QueueSends}")]
    public static partial void Started(ILogger logger, ClaimCheckStoreKind store, int threshold, int topics, bool queueSends);
}
