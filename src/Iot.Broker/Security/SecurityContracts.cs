using System.Security.Cryptography.X509Certificates;
using Iot.Broker.Security.AccessControl;

namespace Iot.Broker.Security;

/// <summary>What an identity may do (README, "Security"; docs/security.md).</summary>
public enum IdentityRole
{
    /// <summary>A device: publishes under <c>devices/{id}/</c>, subscribes to its own commands.</summary>
    Device,

    /// <summary>A backend: sends commands, reads everything, manages the platform through the HTTP API.</summary>
    Service,

    /// <summary>A dashboard: reads aggregates and the HTTP API, changes nothing.</summary>
    Dashboard,
}

/// <summary>Who an MQTT connection is: its client id and, unless anonymous, the identity it authenticated as.</summary>
/// <param name="ClientId">The MQTT client id.</param>
/// <param name="Username">The authenticated identity id (also the MQTT username, or the certificate CN); null when anonymous.</param>
/// <param name="Role">The identity's role; null when anonymous.</param>
internal sealed record IotPrincipal(string ClientId, string? Username, IdentityRole? Role)
{
    public bool IsAnonymous => Role is null;
}

/// <summary>The result of checking credentials.</summary>
/// <param name="Succeeded">The credentials are valid and the identity is enabled.</param>
/// <param name="IdentityId">The identity, when it succeeded.</param>
/// <param name="Role">The identity's role, when it succeeded.</param>
/// <param name="Failure">Why it failed (for logs only: never sent to the client).</param>
/// <param name="ServerBusy">Not checked: the password verification pool was full (refuse with Server busy, not as wrong credentials).</param>
internal readonly record struct AuthenticationOutcome(bool Succeeded, string? IdentityId, IdentityRole Role, string? Failure, bool ServerBusy = false)
{
    public static AuthenticationOutcome Fail(string reason) => new(false, null, default, reason);

    public static AuthenticationOutcome Busy() => new(false, null, default, "password verification queue is full", ServerBusy: true);

    public static AuthenticationOutcome Success(string identityId, IdentityRole role) => new(true, identityId, role, null);
}

/// <summary>Checks MQTT credentials against the identity registry.</summary>
internal interface IIdentityAuthenticator
{
    /// <summary>Username and password from CONNECT. Constant-time comparison; unknown and wrong look the same.</summary>
    ValueTask<AuthenticationOutcome> AuthenticatePasswordAsync(string username, ReadOnlyMemory<byte> password, CancellationToken cancellationToken);

    /// <summary>
    /// Succeeds, without hashing, when this password was verified for <paramref name="username"/> before and the
    /// identity has not changed since; false when the password must be verified.
    /// </summary>
    /// <remarks>The default implementation caches nothing.</remarks>
    bool TryAuthenticateCached(string username, ReadOnlySpan<byte> password, out AuthenticationOutcome outcome)
    {
        outcome = default;
        return false;
    }

    /// <summary>
    /// A client certificate from the TLS listener that already chained to the configured CA: the subject CN is the
    /// identity id, which must exist and be enabled.
    /// </summary>
    ValueTask<AuthenticationOutcome> AuthenticateCertificateAsync(X509Certificate2 certificate, CancellationToken cancellationToken);

    /// <summary>
    /// Whether an identity with this id exists (enabled or not): its id is reserved as an MQTT client id for that
    /// identity alone.
    /// </summary>
    bool IsRegistered(string identityId);
}

/// <summary>Topic rights, evaluated from rules that are data (ACL entries with <c>{clientid}</c>/<c>{username}</c> substitution).</summary>
internal interface IAccessControl
{
    /// <summary>May <paramref name="principal"/> publish to <paramref name="topic"/> (a topic name)?</summary>
    bool CanPublish(IotPrincipal principal, string topic);

    /// <summary>
    /// May <paramref name="principal"/> subscribe to <paramref name="filter"/> (a topic filter, without any <c>$share/{group}/</c>
    /// prefix)? Only when an allow rule covers every topic the filter can match (so <c>devices/+/telemetry</c> is denied
    /// to a device) before a deny rule covers the filter; a deny rule that only overlaps the filter leaves the messages
    /// on its topics to a <see cref="DeliveryCheck"/> (see <see cref="IPrincipalAcl.CanSubscribe(string, out DeliveryCheck?)"/>).
    /// </summary>
    bool CanSubscribe(IotPrincipal principal, string filter);

    /// <summary>
    /// The rights of one connection, resolved once (for example after CONNECT) so that each later check only walks the
    /// rules that apply to <paramref name="principal"/>. Hold the result for the lifetime of the connection.
    /// </summary>
    /// <remarks>
    /// The default implementation delegates every check to <see cref="CanPublish"/> and <see cref="CanSubscribe"/>, so
    /// other implementations (test fakes) need not implement it.
    /// </remarks>
    IPrincipalAcl Compile(IotPrincipal principal) => new DelegatingPrincipalAcl(this, principal);

    private sealed class DelegatingPrincipalAcl(IAccessControl accessControl, IotPrincipal principal) : IPrincipalAcl
    {
        public bool CanPublish(string topic) => accessControl.CanPublish(principal, topic);

        public bool CanSubscribe(string filter) => accessControl.CanSubscribe(principal, filter);
    }
}

/// <summary>The topic rights of one connection, from <see cref="IAccessControl.Compile"/>; thread-safe.</summary>
internal interface IPrincipalAcl
{
    /// <summary>May this connection publish to <paramref name="topic"/> (a topic name)?</summary>
    bool CanPublish(string topic);

    /// <summary>May this connection subscribe to <paramref name="filter"/> (a topic filter without any <c>$share/{group}/</c> prefix)?</summary>
    /// <remarks>
    /// True also for a filter granted with a delivery check (it shares some topics with a deny rule): whoever delivers
    /// messages through the filter must use <see cref="CanSubscribe(string, out DeliveryCheck?)"/>. For a topic name
    /// the answer is exact: whether a message on that topic may be delivered to this connection.
    /// </remarks>
    bool CanSubscribe(string filter);

    /// <summary>
    /// May this connection subscribe to <paramref name="filter"/>, and if so, which messages must be checked at delivery:
    /// <paramref name="deliveryCheck"/> is null when every topic the filter matches may be read.
    /// </summary>
    /// <remarks>The default implementation grants what <see cref="CanSubscribe(string)"/> grants, without a check.</remarks>
    bool CanSubscribe(string filter, out DeliveryCheck? deliveryCheck)
    {
        deliveryCheck = null;
        return CanSubscribe(filter);
    }
}
