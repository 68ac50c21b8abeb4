namespace Iot.Routing.Internal;

/// <summary>Outcome of a settlement by lock tokens.</summary>
internal sealed record LockTokenResult(IReadOnlyList<string> Succeeded, IReadOnlyList<(string LockToken, string Error)> Failed);
