namespace Iot.Broker.Cluster.Retained;

/// <summary>Log messages of retained messages in cluster mode (event ids 1940-1949).</summary>
internal static partial class ClusterRetainedLog
{
    [LoggerMessage(EventId = 1940, Level = LogLevel.Information, Message = "Retained messages: {Count} loaded from JetStream stream {Stream} up to sequence {Sequence}")]
    public static partial void Loaded(ILogger logger, int count, string stream, ulong sequence);

    [LoggerMessage(EventId = 1941, Level = LogLevel.Warning, Message = "Retained messages: the index had not caught up with JetStream stream {Stream} at start ({Reason}); SUBSCRIBEs wait for it")]
    public static partial void NotLoaded(ILogger logger, string stream, string reason);

    [LoggerMessage(EventId = 1942, Level = LogLevel.Warning, Message = "Retained messages: a write to JetStream stream {Stream} failed; the publisher is not acknowledged")]
    public static partial void WriteFailed(ILogger logger, string stream, Exception exception);

    [LoggerMessage(EventId = 1943, Level = LogLevel.Warning, Message = "Retained messages: a SUBSCRIBE was refused because the index could not be brought up to date with JetStream stream {Stream} within {TimeoutSeconds} s (index at sequence {Sequence}): {Reason}")]
    public static partial void NotCurrent(ILogger logger, string stream, double timeoutSeconds, ulong sequence, string reason);

    [LoggerMessage(EventId = 1944, Level = LogLevel.Error, Message = "Retained messages: the record at sequence {Sequence} of JetStream stream {Stream} is unreadable and was skipped")]
    public static partial void Unreadable(ILogger logger, ulong sequence, string stream, Exception exception);

    [LoggerMessage(EventId = 1945, Level = LogLevel.Warning, Message = "Retained messages: reading JetStream stream {Stream} failed; it resumes after sequence {Sequence}")]
    public static partial void FeedFailed(ILogger logger, string stream, ulong sequence, Exception exception);

    [LoggerMessage(EventId = 1946, Level = LogLevel.Warning, Message = "Retained messages: creating JetStream stream {Stream} failed (attempt {Attempt}); trying again")]
    public static partial void StreamSetupRetry(ILogger logger, string stream, int attempt, Exception exception);
}
