using System.Security.Claims;

namespace Iot.Routing.Subscriptions;

/// <summary>
/// Whether the caller of the HTTP API may make the broker publish to an MQTT topic on its behalf: an event subscription
/// with an MQTT destination publishes every matching event there, so creating one needs the same right as publishing.
/// The broker implements it with its topic access control; without one, everything is allowed.
/// </summary>
/// <remarks>Topics starting with <c>$</c> are refused before this is asked.</remarks>
public interface IPublishAuthorizer
{
    /// <summary>May <paramref name="user"/> (the request's principal, unauthenticated for anonymous callers) publish to <paramref name="topic"/>?</summary>
    bool CanPublish(ClaimsPrincipal user, string topic);
}

/// <summary>The authorizer when the host has no access control (the routing layer alone, as in its tests).</summary>
internal sealed class AllowAllPublishAuthorizer : IPublishAuthorizer
{
    public bool CanPublish(ClaimsPrincipal user, string topic) => true;
}
