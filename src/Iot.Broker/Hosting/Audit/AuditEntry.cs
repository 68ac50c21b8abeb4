namespace Iot.Broker.Hosting.Audit;

/// <summary>One administrative change (or attempt) through the HTTP API, as the audit log keeps it.</summary>
/// <param name="Sequence">Its position in the log (assigned when stored; 0 before).</param>
/// <param name="Time">When the request was answered.</param>
/// <param name="Actor">The identity that made it; <c>anonymous</c> for a request without credentials (<c>Iot:Security:AllowAnonymous</c>).</param>
/// <param name="Role">The actor's role (<c>service</c>, <c>dashboard</c>, ...); null for anonymous.</param>
/// <param name="Action">The method and route, e.g. <c>POST /api/devices/{id}/disable</c>.</param>
/// <param name="Target">The route's values, e.g. <c>id=dev-1</c>; empty when the route has none.</param>
/// <param name="Status">The HTTP status of the answer: 2xx done, 4xx refused (nothing changed), 5xx failed.</param>
/// <param name="RemoteAddress">The client's address.</param>
/// <param name="Node">The broker node that served it (cluster mode; the host name otherwise).</param>
public sealed record AuditEntry(
    long Sequence, DateTimeOffset Time, string Actor, string? Role, string Action, string Target, int Status, string? RemoteAddress, string Node);
