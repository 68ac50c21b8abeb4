namespace Iot.Broker.Api;

/// <summary>
/// Beyond <see cref="IotApiPolicy"/>: a route whose reads expose what only a <c>service</c> identity may see (backups, the
/// audit log) refuses an authenticated caller of any other role with 403, for <c>GET</c> too. Anonymous requests are
/// judged by the policy (<c>Iot:Security:AllowAnonymous</c>).
/// </summary>
internal static class ServiceOnly
{
    public static ValueTask<object?> FilterAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        var user = context.HttpContext.User;
        if (user.Identity is { IsAuthenticated: true } && !user.IsInRole("service"))
        {
            return ValueTask.FromResult<object?>(ApiProblems.Forbidden("This needs a service identity."));
        }

        return next(context);
    }
}
