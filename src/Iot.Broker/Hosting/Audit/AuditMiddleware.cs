using System.Security.Claims;
using System.Text;
using Iot.Broker.Cluster;
using Microsoft.AspNetCore.Routing.Patterns;

namespace Iot.Broker.Hosting.Audit;

/// <summary>
/// Records every administrative request to <c>/api</c> in the <see cref="IAuditLog"/> as it is answered (before the
/// caller sees the answer): any method
/// but GET and HEAD, on identities, routes, event subscriptions, queues, streams and their groups, device commands and
/// backups, with the actor, the route and its values, and the status (a refused change, 403 or 4xx, is recorded too).
/// Traffic is not administration and is left out: queue messages, sessions and dead-letter receives, events posted or
/// pulled, consumer offset commits. Requests without valid credentials (401) are left out too: they name no actor,
/// and failed logins are counted and throttled elsewhere (docs/security.md).
/// </summary>
internal sealed partial class AuditMiddleware(RequestDelegate next, IAuditLog audit, TimeProvider timeProvider, IServiceProvider services,
    ILogger<AuditMiddleware> logger)
{
    /// <summary>Parts of a route pattern that mark traffic rather than administration.</summary>
    private static readonly string[] Traffic = ["/messages", "/sessions", "/events", "/offset", "/deadletter:"];

    // The node's id in cluster mode (configured, or the one generated and kept in its data directory); the machine's name otherwise.
    private readonly string _node = services.GetService<ClusterConnection>()?.NodeId ?? Environment.MachineName;

    public Task InvokeAsync(HttpContext context)
    {
        // Recorded as the answer starts, with its status: the caller sees the answer only once the entry is on disk.
        if (IsAdministrative(context, out var pattern))
        {
            context.Response.OnStarting(() => RecordAsync(context, pattern));
        }

        return next(context);
    }

    private async Task RecordAsync(HttpContext context, RoutePattern pattern)
    {
        // No actor (401), or a caller over its request rate (429): a flood must not become a flood of audit writes.
        if (context.Response.StatusCode is StatusCodes.Status401Unauthorized or StatusCodes.Status429TooManyRequests)
        {
            return;
        }

        var user = context.User;
        var authenticated = user.Identity is { IsAuthenticated: true };
        var entry = new AuditEntry(0, timeProvider.GetUtcNow(), authenticated ? user.Identity!.Name ?? "?" : "anonymous",
            authenticated ? user.FindFirst(ClaimTypes.Role)?.Value : null, context.Request.Method + " " + pattern.RawText!.TrimEnd('/'), Target(context, pattern),
            context.Response.StatusCode, context.Connection.RemoteIpAddress?.ToString(), _node);
        try
        {
            await audit.AppendAsync(entry, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The change is done; the trail misses it: say so where operators look.
            Log.AppendFailed(logger, entry.Action, entry.Actor, entry.Status, ex);
        }
    }

    /// <summary>Whether the request changes the platform's configuration (not a read, not traffic).</summary>
    internal static bool IsAdministrative(HttpContext context, out RoutePattern pattern)
    {
        pattern = null!;
        if (HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method) || HttpMethods.IsOptions(context.Request.Method)
            || context.GetEndpoint() is not RouteEndpoint { RoutePattern: { RawText: { } raw } routePattern }
            || !raw.StartsWith("/api/", StringComparison.Ordinal))
        {
            return false;
        }

        pattern = routePattern;
        foreach (var part in Traffic)
        {
            if (raw.Contains(part, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The route's values in the pattern's order: <c>name=work</c>, <c>id=dev-1, name=reboot</c>.</summary>
    private static string Target(HttpContext context, RoutePattern pattern)
    {
        var target = new StringBuilder();
        foreach (var parameter in pattern.Parameters)
        {
            if (context.Request.RouteValues.TryGetValue(parameter.Name, out var value))
            {
                target.Append(target.Length > 0 ? ", " : "").Append(parameter.Name).Append('=').Append(value);
            }
        }

        return target.ToString();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1195, Level = LogLevel.Error, Message = "The audit log could not record {Action} by {Actor} (status {Status})")]
        public static partial void AppendFailed(ILogger logger, string action, string actor, int status, Exception exception);
    }
}
