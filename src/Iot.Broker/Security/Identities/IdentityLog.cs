using Iot.Messaging;

namespace Iot.Broker.Security.Identities;

/// <summary>Log messages of the identity registry and the HTTP API's identity endpoints (event ids 1150-1169). Never secrets.</summary>
internal static partial class IdentityLog
{
    [LoggerMessage(EventId = 1150, Level = LogLevel.Information, Message = "Identity registry {Path} opened with {Count} identities")]
    public static partial void RegistryOpened(ILogger logger, string path, int count);

    [LoggerMessage(EventId = 1151, Level = LogLevel.Information, Message = "Configured identity {IdentityId} ({Role}): {Result}")]
    public static partial void Seeded(ILogger logger, string identityId, IdentityRole role, SeedResult result);

    [LoggerMessage(EventId = 1152, Level = LogLevel.Error, Message = "A subscriber of identity changes failed for {IdentityId} ({Kind})")]
    private static partial void ChangeHandlerFailedCore(ILogger logger, Exception exception, string identityId, IdentityChangeKind kind);

    /// <summary>Logs with the values that come from clients escaped (<see cref="LogSafe"/>).</summary>
    public static void ChangeHandlerFailed(ILogger logger, Exception exception, string identityId, IdentityChangeKind kind)
    {
        if (logger.IsEnabled(LogLevel.Error))
        {
            var safeIdentityId = LogSafe.Escape(identityId);
            ChangeHandlerFailedCore(logger, exception, safeIdentityId, kind);
        }
    }

    [LoggerMessage(EventId = 1153, Level = LogLevel.Information, Message = "Identity {IdentityId}: {Kind} by {Actor}")]
    private static partial void ChangedCore(ILogger logger, string identityId, IdentityChangeKind kind, string actor);

    /// <summary>Logs with the values that come from clients escaped (<see cref="LogSafe"/>).</summary>
    public static void Changed(ILogger logger, string identityId, IdentityChangeKind kind, string actor)
    {
        if (logger.IsEnabled(LogLevel.Information))
        {
            var safeIdentityId = LogSafe.Escape(identityId);
            var safeActor = LogSafe.Escape(actor);
            ChangedCore(logger, safeIdentityId, kind, safeActor);
        }
    }

    [LoggerMessage(EventId = 1154, Level = LogLevel.Debug, Message = "HTTP API key rejected: {Reason}")]
    private static partial void ApiKeyRejectedCore(ILogger logger, string reason);

    /// <summary>Logs with the values that come from clients escaped (<see cref="LogSafe"/>).</summary>
    public static void ApiKeyRejected(ILogger logger, string reason)
    {
        if (logger.IsEnabled(LogLevel.Debug))
        {
            var safeReason = LogSafe.Escape(reason);
            ApiKeyRejectedCore(logger, safeReason);
        }
    }

    [LoggerMessage(EventId = 1155, Level = LogLevel.Information, Message = "Identity {IdentityId} was changed by another node during write attempt {Attempt}; applying its change and deciding again")]
    private static partial void WriteConflictCore(ILogger logger, string identityId, int attempt);

    /// <summary>Logs with the values that come from clients escaped (<see cref="LogSafe"/>).</summary>
    public static void WriteConflict(ILogger logger, string identityId, int attempt)
    {
        if (logger.IsEnabled(LogLevel.Information))
        {
            var safeIdentityId = LogSafe.Escape(identityId);
            WriteConflictCore(logger, safeIdentityId, attempt);
        }
    }

    [LoggerMessage(EventId = 1168, Level = LogLevel.Warning, Message = "Identity registry {Path}: skipped the unreadable row of identity {IdentityId} ({Reason}); it cannot log in until it is rotated or created again")]
    public static partial void CorruptIdentitySkipped(ILogger logger, string path, string identityId, string reason);
}
