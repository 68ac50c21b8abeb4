using System.ComponentModel.DataAnnotations;

namespace Iot.Broker.Security;

/// <summary>
/// What the broker does against password guessing and hashing floods, under <c>Iot:Security</c> (beside
/// <c>AllowAnonymous</c> and the identity settings): back-off after failed logins, and the bounded pool that runs
/// password verifications.
/// </summary>
public sealed class LoginProtectionOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Iot:Security";

    /// <summary>Back-off after the first failed login, in milliseconds; it doubles with each further consecutive failure
    /// from the same address or for the same username, up to <see cref="LoginBackoffMaxSeconds"/>.</summary>
    /// <remarks>Default 500; range 0-60 000 (0 turns the back-off off). The refusal (CONNACK 0x86, 3.1.1: 0x04) is sent
    /// that much later, and the next verification from that address waits as long.</remarks>
    [Range(0, 60_000)]
    public int LoginBackoffBaseMilliseconds { get; set; } = 500;

    /// <summary>The longest back-off, in seconds: no CONNACK is held longer for failed logins.</summary>
    /// <remarks>Default 10; range 1-300. An address whose next verification would wait longer is refused at once with
    /// 0x89 (Server busy; 3.1.1: 0x03) without hashing.</remarks>
    [Range(1, 300)]
    public int LoginBackoffMaxSeconds { get; set; } = 10;

    /// <summary>Most addresses, and most usernames, whose failed logins are remembered at once (two tables of this size).</summary>
    /// <remarks>Default 50 000; range 100 - 10 000 000 (about 130 bytes an entry). An entry is forgotten 15 minutes after
    /// its last failure, or at the next successful login. When a table is full, new keys are not tracked until entries
    /// are forgotten (counted as <c>limit="login_backoff_table_full"</c>).</remarks>
    [Range(100, 10_000_000)]
    public int LoginBackoffMaxTracked { get; set; } = 50_000;

    /// <summary>Password verifications (PBKDF2) that run at once: the most cores password hashing can take.</summary>
    /// <remarks>Default 0: half the processor count, at least 1; range 0-1024. Verifications already cached (a
    /// reconnect with a password that succeeded before) do not use the pool. One source address may have at most this
    /// many logins on their way to the check at once (further ones are refused with 0x89), so that no address can
    /// fill the queue.</remarks>
    [Range(0, 1024)]
    public int PasswordHashConcurrency { get; set; }

    /// <summary>Password verifications that may wait for the pool; a CONNECT beyond them is refused with 0x89 (Server
    /// busy; 3.1.1: 0x03 Server unavailable) at once.</summary>
    /// <remarks>Default 16; range 0-100 000. A login waits at most about this many verifications (a few milliseconds to
    /// a few hundred each) divided by <see cref="PasswordHashConcurrency"/>.</remarks>
    [Range(0, 100_000)]
    public int PasswordHashQueue { get; set; } = 16;

    /// <summary><see cref="PasswordHashConcurrency"/> with its default resolved.</summary>
    internal int EffectiveHashConcurrency =>
        PasswordHashConcurrency > 0 ? PasswordHashConcurrency : Math.Max(1, Environment.ProcessorCount / 2);
}
