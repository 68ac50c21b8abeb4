using Iot.Broker.Api;

namespace Iot.Broker.Hosting.Audit;

/// <summary><c>GET /api/audit</c>: the audit log, newest first, for service identities (docs/api.md).</summary>
internal static class AuditEndpoints
{
    public static IEndpointRouteBuilder MapAuditApi(this IEndpointRouteBuilder api)
    {
        api.MapGet("/audit", QueryAsync).WithName("ListAuditEntries").WithTags("Audit");
        return api;
    }

    private static async Task<IResult> QueryAsync(HttpContext context, IAuditLog audit, DateTimeOffset? since, DateTimeOffset? until, string? actor,
        string? action, long? before, int? limit, CancellationToken cancellationToken)
    {
        var user = context.User;
        if (user.Identity is { IsAuthenticated: true } && !user.IsInRole("service"))
        {
            return ApiProblems.Forbidden("The audit log needs a service identity.");
        }

        if (limit is < 1 or > 1000)
        {
            return ApiProblems.BadRequest("limit must be between 1 and 1000.");
        }

        var entries = await audit.QueryAsync(new AuditQuery(since, until, actor, action, before, limit ?? 100), cancellationToken).ConfigureAwait(false);
        return Results.Ok(new { value = entries });
    }
}
