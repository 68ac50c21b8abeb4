namespace Iot.Routing.Queues;

/// <summary>A session lock: the only receiver that may take the session's messages until <see cref="LockedUntil"/>.</summary>
/// <param name="SessionId">The session.</param>
/// <param name="LockToken">Proof of holding the lock (receive, renew, release, set state).</param>
/// <param name="LockedUntil">When the lock expires unless renewed.</param>
public sealed record SessionLock(string SessionId, string LockToken, DateTimeOffset LockedUntil);
