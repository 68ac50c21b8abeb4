namespace Iot.Broker.Security.Identities;

/// <summary>Identity settings under <c>Iot:Security</c> (beside <c>AllowAnonymous</c>).</summary>
public sealed class IdentityRegistryOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Iot:Security";

    /// <summary>The smallest accepted <see cref="PasswordIterations"/>.</summary>
    public const int MinPasswordIterations = 1_000;

    /// <summary>The largest accepted <see cref="PasswordIterations"/>.</summary>
    public const int MaxPasswordIterations = 10_000_000;

    /// <summary>The smallest accepted length of a configured API key.</summary>
    public const int MinApiKeyLength = 16;

    /// <summary>PBKDF2-SHA256 iterations for new password hashes.</summary>
    /// <remarks>
    /// Default 100 000; range 1 000 - 10 000 000. Each hash remembers its own count, so changing this applies to
    /// passwords set afterwards. Values below 100 000 are for tests only.
    /// </remarks>
    public int PasswordIterations { get; set; } = 100_000;

    /// <summary>Identities applied at start-up: created when missing, their role and configured secrets updated when they differ.</summary>
    /// <remarks>
    /// Default none. Configured as <c>Iot:Security:Identities:0:Id</c>, <c>...:0:Role</c>, <c>...:0:Password</c>,
    /// <c>...:0:ApiKey</c>. Ids must be unique and valid device ids; API keys unique and at least
    /// <see cref="MinApiKeyLength"/> characters.
    /// </remarks>
    public IList<ConfiguredIdentityOptions> Identities { get; } = [];
}

/// <summary>One entry of <c>Iot:Security:Identities</c>.</summary>
public sealed class ConfiguredIdentityOptions
{
    /// <summary>The identity id: device id, MQTT username and certificate CN.</summary>
    /// <remarks>Required; 1-128 characters of <c>A-Z a-z 0-9 . _ : -</c>.</remarks>
    public string? Id { get; set; }

    /// <summary>The role: <c>Device</c>, <c>Service</c> or <c>Dashboard</c> (case-insensitive).</summary>
    /// <remarks>Default <c>Device</c>.</remarks>
    public IdentityRole Role { get; set; } = IdentityRole.Device;

    /// <summary>The MQTT password; stored only as a PBKDF2 hash.</summary>
    /// <remarks>Default none: the identity keeps the password it has (or has none, for certificate-only devices). Not empty when set.</remarks>
    public string? Password { get; set; }

    /// <summary>The HTTP API key (<c>X-Api-Key</c> or <c>Authorization: Bearer</c>); stored only as a SHA-256 hash.</summary>
    /// <remarks>
    /// Default none: the identity keeps the key it has. At least 16 characters; use a long random value. The HTTP
    /// API serves service and dashboard identities only; a device's key authenticates but is refused (403).
    /// </remarks>
    public string? ApiKey { get; set; }
}
