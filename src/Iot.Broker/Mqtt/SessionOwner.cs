namespace Iot.Broker.Mqtt;

/// <summary>
/// Who owns a session (docs/security.md, "Client ids and sessions"): an identity, nobody (an anonymous session: a null
/// <see cref="Identity"/>), or not known (<see cref="Unknown"/>: a session stored before owners were recorded, session
/// store schema 1, which the first identity that resumes it claims).
/// </summary>
internal readonly record struct SessionOwner(string? Identity, bool Unknown)
{
    /// <summary>A session stored before owners were recorded.</summary>
    public static SessionOwner NotRecorded => new(null, true);

    /// <summary>Owned by <paramref name="identity"/> (null: anonymous).</summary>
    public static SessionOwner Of(string? identity) => new(identity, false);

    /// <summary>The owner from the session store's form: an identity id, empty for anonymous, null when not recorded.</summary>
    public static SessionOwner FromStored(string? stored) => stored is null ? NotRecorded : Of(stored.Length > 0 ? stored : null);

    /// <summary>The owner in the session store's form (see <see cref="FromStored"/>).</summary>
    public string? Stored => Unknown ? null : Identity ?? string.Empty;

    /// <summary>Whether a client authenticated as <paramref name="identity"/> (null: anonymous) may use the session.</summary>
    public bool MayBeUsedBy(string? identity) => Unknown || string.Equals(Identity, identity, StringComparison.Ordinal);
}
