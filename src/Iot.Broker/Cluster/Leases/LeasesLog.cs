namespace Iot.Broker.Cluster.Leases;

/// <summary>Log messages of the singleton leases (event ids 1990-1999).</summary>
internal static partial class LeasesLog
{
    [LoggerMessage(EventId = 1990, Level = LogLevel.Information, Message = "Cluster lease {Lease} acquired by this node (fencing token {Token})")]
    public static partial void Acquired(ILogger logger, string lease, long token);

    [LoggerMessage(EventId = 1991, Level = LogLevel.Warning, Message = "Cluster lease {Lease} taken over from node {Holder}: not renewed for the lease duration (its last renewal at {RenewedAt:O} by its clock; fencing token {Token})")]
    public static partial void TakenOver(ILogger logger, string lease, string holder, DateTimeOffset renewedAt, long token);

    [LoggerMessage(EventId = 1992, Level = LogLevel.Warning, Message = "Cluster lease {Lease} lost ({Reason}): its work stops here")]
    public static partial void Lost(ILogger logger, string lease, string reason);

    [LoggerMessage(EventId = 1993, Level = LogLevel.Warning, Message = "Renewing cluster lease {Lease} failed (kept until {GiveUpMs} ms after the last renewal): {Reason}")]
    public static partial void RenewFailed(ILogger logger, string lease, long giveUpMs, string reason);

    [LoggerMessage(EventId = 1994, Level = LogLevel.Information, Message = "Cluster lease {Lease} released")]
    public static partial void Released(ILogger logger, string lease);

    [LoggerMessage(EventId = 1995, Level = LogLevel.Warning, Message = "Could not read or take cluster lease {Lease}; trying again: {Reason}")]
    public static partial void AcquireFailed(ILogger logger, string lease, string reason);

    [LoggerMessage(EventId = 1996, Level = LogLevel.Debug, Message = "Cluster lease {Lease} is held by node {Holder} (renewed at {RenewedAt:O})")]
    public static partial void HeldElsewhere(ILogger logger, string lease, string holder, DateTimeOffset renewedAt);
}
