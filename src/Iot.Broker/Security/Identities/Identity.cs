namespace Iot.Broker.Security.Identities;

/// <summary>One identity of the registry, as stored (secrets only as hashes).</summary>
/// <param name="Id">The identity id: the device id, MQTT username and certificate CN.</param>
/// <param name="Role">What the identity may do.</param>
/// <param name="Enabled">A disabled identity exists but authenticates nowhere.</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="UpdatedAt">When it last changed (role, state or secrets).</param>
/// <param name="Password">The PBKDF2 hash of its password; null when it has none (certificate-only devices).</param>
/// <param name="ApiKeyHash">The SHA-256 of its HTTP API key; null when it has none.</param>
internal sealed record Identity(
    string Id,
    IdentityRole Role,
    bool Enabled,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    PasswordHash? Password,
    byte[]? ApiKeyHash)
{
    /// <summary>
    /// In-memory version, new for every change: a verification cached against an older stamp no longer counts,
    /// even when it raced with the change. Not persisted.
    /// </summary>
    public long Stamp { get; init; }

    /// <summary>
    /// The store's revision of this version (<see cref="IIdentityStore.UpsertAsync"/>): in cluster mode the key-value
    /// revision a compare-and-set expects; 0 in a store with a single writer. Not part of the stored value.
    /// </summary>
    public long Revision { get; init; }
}

/// <summary>A salted PBKDF2-SHA256 password hash with the iteration count it was made with.</summary>
internal sealed record PasswordHash(byte[] Salt, byte[] Hash, int Iterations);

/// <summary>Secrets issued by the registry, shown to the caller once and never stored in clear.</summary>
/// <param name="Password">The new password.</param>
/// <param name="ApiKey">The new HTTP API key (service and dashboard identities); otherwise null.</param>
internal sealed record IssuedCredentials(string Password, string? ApiKey);

/// <summary>What happened to an identity.</summary>
internal enum IdentityChangeKind
{
    /// <summary>It was created (API or configuration).</summary>
    Created,

    /// <summary>It was enabled again.</summary>
    Enabled,

    /// <summary>It was disabled: its live connections should be closed.</summary>
    Disabled,

    /// <summary>It was deleted: its live connections should be closed.</summary>
    Deleted,

    /// <summary>Its password or API key changed: connections made with the old secret should be closed.</summary>
    CredentialsChanged,

    /// <summary>Its role changed (configuration seeding): its rights on live connections are stale.</summary>
    RoleChanged,
}

/// <summary>A change of one identity, raised by <see cref="IdentityRegistry.IdentityChanged"/> after it is durable.</summary>
internal readonly record struct IdentityChange(string IdentityId, IdentityChangeKind Kind)
{
    /// <summary>The identity's live connections are no longer entitled to what they were granted and should be closed.</summary>
    public bool RevokesConnections => Kind is IdentityChangeKind.Disabled or IdentityChangeKind.Deleted
        or IdentityChangeKind.CredentialsChanged or IdentityChangeKind.RoleChanged;
}

/// <summary>The rules for identity ids (they are MQTT usernames, client ids and topic levels).</summary>
internal static class IdentityIds
{
    /// <summary>The longest id.</summary>
    public const int MaxLength = Iot.Messaging.ResourceNames.MaxLength;

    /// <summary>
    /// Null when <paramref name="id"/> is a valid identity id (the platform's one set of ids,
    /// <see cref="Iot.Messaging.ResourceNames"/>); otherwise why it is not.
    /// </summary>
    public static string? Validate(string? id) => Iot.Messaging.ResourceNames.Validate(id);

    /// <summary>The role's name in the HTTP API and the database: <c>device</c>, <c>service</c>, <c>dashboard</c>.</summary>
    public static string RoleName(IdentityRole role) => role switch
    {
        IdentityRole.Device => "device",
        IdentityRole.Service => "service",
        IdentityRole.Dashboard => "dashboard",
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, "Unknown identity role."),
    };

    /// <summary>Parses a role name (case-insensitive): <c>device</c>, <c>service</c> or <c>dashboard</c>.</summary>
    public static bool TryParseRole(string? name, out IdentityRole role)
    {
        foreach (var candidate in Enum.GetValues<IdentityRole>())
        {
            if (string.Equals(name, RoleName(candidate), StringComparison.OrdinalIgnoreCase))
            {
                role = candidate;
                return true;
            }
        }

        role = default;
        return false;
    }
}
