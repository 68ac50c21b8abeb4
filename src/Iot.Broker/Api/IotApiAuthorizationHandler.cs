using Iot.Broker.Hosting;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Api;

/// <summary>The requirement behind <see cref="IotApiPolicy.Name"/>.</summary>
internal sealed class IotApiRequirement : IAuthorizationRequirement;

/// <summary>
/// Decides <see cref="IotApiRequirement"/>: GET and HEAD need role service or dashboard, other methods role service.
/// With <c>Iot:Security:AllowAnonymous</c> a request that carries no credentials passes; one that carries a key is
/// judged by it (an invalid key is still 401, a device key still 403).
/// </summary>
internal sealed class IotApiAuthorizationHandler(IOptionsMonitor<SecurityOptions> security) : AuthorizationHandler<IotApiRequirement>
{
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, IotApiRequirement requirement)
    {
        ArgumentNullException.ThrowIfNull(context);
        var http = context.Resource as HttpContext;
        var user = context.User;
        if (user.Identity is { IsAuthenticated: true, AuthenticationType: IotApiPolicy.AuthenticationScheme })
        {
            var reads = http is not null && (HttpMethods.IsGet(http.Request.Method) || HttpMethods.IsHead(http.Request.Method));
            if (user.IsInRole("service") || (reads && user.IsInRole("dashboard")))
            {
                context.Succeed(requirement);
            }
        }
        else if (security.CurrentValue.AllowAnonymous && http is not null && !ApiKeyAuthenticationHandler.HasCredentials(http.Request))
        {
            context.Succeed(requirement);
        }

        return Task.CompletedTask;
    }
}
