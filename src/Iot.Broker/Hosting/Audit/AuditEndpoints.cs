using System.ComponentModel;
using Iot.Broker.Api;

namespace Iot.Broker.Hosting.Audit;

/// <summary><c>GET /api/audit</c>: the audit log, newest first, for service identities (docs/api.md).</summary>
internal static class AuditEndpoints
{
    public static IEndpointRouteBuilder MapAuditApi(this IEndpointRouteBuilder api)
    {
        api.MapGet("/audit", QueryAsync).WithName("ListAuditEntries").WithTags("Audit").AddEndpointFilter(ServiceOnly.FilterAsync)
            .WithSummary("Lists the audit log's entries (administrative changes through the API), newest first; a service identity only.")
            .Produces<AuditListResponse>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden);
        return api;
    }

    private static async Task<IResult> QueryAsync(IAuditLog audit,
        [Description("Only entries at or after this time (ISO 8601).")] DateTimeOffset? since,
        [Description("Only entries before this time (ISO 8601).")] DateTimeOffset? until,
        [Description("Only this identity's entries (anonymous: requests without credentials).")] string? actor,
        [Description("Only entries whose action (method and route) contains this text, e.g. /api/devices or DELETE.")] string? action,
        [Description("Only entries older than this sequence: the last sequence of the previous page.")] long? before,
        [Description("The most entries to list, 1 to 1000 (100 by default).")] int? limit, CancellationToken cancellationToken)
    {
        if (limit is < 1 or > 1000)
        {
            return ApiProblems.BadRequest("limit must be between 1 and 1000.");
        }

        var entries = await audit.QueryAsync(new AuditQuery(since, until, actor, action, before, limit ?? 100), cancellationToken).ConfigureAwait(false);
        return Results.Ok(new AuditListResponse(entries));
    }
}

/// <summary>The answer of <c>GET /api/audit</c>.</summary>
/// <param name="Value">The entries, newest first.</param>
internal sealed record AuditListResponse(IReadOnlyList<AuditEntry> Value);
