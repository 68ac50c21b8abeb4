using System.Security.Claims;
using Iot.Broker.Security.Identities;
using Iot.Routing.Subscriptions;

namespace Iot.Broker.Security;

/// <summary>
/// The routing layer's <see cref="IPublishAuthorizer"/> for the HTTP API: the caller's identity (name and role from its
/// API key, see <c>ApiKeyAuthenticationHandler</c>) must be allowed to publish to the topic by the same rules as an MQTT
/// connection of that identity whose client id is its identity id. An unauthenticated caller (admitted only when
/// <c>Iot:Security:AllowAnonymous</c> is true) is judged as an anonymous MQTT client.
/// </summary>
internal sealed class ApiPublishAuthorizer(IAccessControl accessControl) : IPublishAuthorizer
{
    public bool CanPublish(ClaimsPrincipal user, string topic)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(topic);
        IotPrincipal principal;
        if (user.Identity is { IsAuthenticated: true, Name: { Length: > 0 } name })
        {
            if (!IdentityIds.TryParseRole(user.FindFirst(ClaimTypes.Role)?.Value, out var role))
            {
                return false;
            }

            principal = new IotPrincipal(name, name, role);
        }
        else
        {
            principal = new IotPrincipal(string.Empty, null, null);
        }

        return accessControl.CanPublish(principal, topic);
    }
}
