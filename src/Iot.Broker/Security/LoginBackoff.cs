using System.Collections.Concurrent;
using System.Net;
using Iot.Broker.Mqtt;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Security;

/// <summary>
/// Back-off after failed logins, per source address and per username. After the n-th consecutive failure the refusal
/// is held for <c>min(base * 2^(n-1), max)</c> (<see cref="LoginProtectionOptions"/>), n being the larger of the two
/// counts; a success resets both. The address count also spaces verifications: while an address is backing off, at
/// most one of its logins is verified per back-off interval, and one that would wait longer than the maximum is
/// refused without hashing. The username count never delays or refuses a login before it is verified, so an attacker
/// cannot lock an identity out: a right password from another address is verified and accepted at once, and a wrong
/// one is only answered later.
/// </summary>
/// <remarks>
/// Unknown and known usernames are tracked alike, so the delays do not tell which exist. Both tables are bounded by
/// <see cref="LoginProtectionOptions.LoginBackoffMaxTracked"/> and forget an entry 15 minutes after its last failure.
/// Time comes from the <see cref="TimeProvider"/>.
/// </remarks>
internal sealed class LoginBackoff
{
    /// <summary>How long consecutive failures are remembered after the last one.</summary>
    internal static readonly TimeSpan ForgetAfter = TimeSpan.FromMinutes(15);

    private readonly TimeProvider _time;
    private readonly BrokerMetrics _metrics;
    private readonly double _baseSeconds;
    private readonly TimeSpan _max;
    private readonly BackoffTable<IPAddress> _addresses;
    private readonly BackoffTable<string> _usernames;
    private long _lastPrune;
    // Logins per address between TryBeginVerification and EndVerification (waiting for their back-off, queued or hashing).
    private readonly ConcurrentDictionary<IPAddress, int> _verifying = new();
    private readonly int _verificationsPerAddress;
    private readonly int _verificationsPerCleanAddress;

    public LoginBackoff(IOptions<LoginProtectionOptions> options, TimeProvider time, BrokerMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(options);
        var value = options.Value;
        _time = time;
        _metrics = metrics;
        _baseSeconds = value.LoginBackoffBaseMilliseconds / 1000.0;
        _max = TimeSpan.FromSeconds(value.LoginBackoffMaxSeconds);
        var forget = (long)(ForgetAfter.TotalSeconds * time.TimestampFrequency);
        _addresses = new BackoffTable<IPAddress>(value.LoginBackoffMaxTracked, forget, time, null);
        _usernames = new BackoffTable<string>(value.LoginBackoffMaxTracked, forget, time, StringComparer.Ordinal);
        _lastPrune = time.GetTimestamp();
        _verificationsPerAddress = value.EffectiveHashConcurrency;
        _verificationsPerCleanAddress = value.EffectiveHashConcurrency + value.PasswordHashQueue;
    }

    /// <summary>Addresses with failed logins remembered now.</summary>
    public int TrackedAddresses => _addresses.Count;

    /// <summary>Usernames with failed logins remembered now.</summary>
    public int TrackedUsernames => _usernames.Count;

    private bool Enabled => _baseSeconds > 0;

    /// <summary>
    /// Before a login from <paramref name="address"/> is verified: true with the <paramref name="wait"/> before it may
    /// be (zero unless the address is backing off), or false when that wait would exceed the maximum back-off (refuse
    /// without verifying).
    /// </summary>
    public bool TryEnter(IPAddress? address, out TimeSpan wait)
    {
        wait = TimeSpan.Zero;
        if (!Enabled || address is null || !_addresses.TryGet(address, out var entry))
        {
            return true;
        }

        var now = _time.GetTimestamp();
        lock (entry)
        {
            if (entry.Failures == 0)
            {
                return true;
            }

            var slot = Math.Max(now, entry.NextSlot);
            wait = _time.GetElapsedTime(now, slot);
            if (wait > _max)
            {
                wait = TimeSpan.Zero;
                return false;
            }

            entry.NextSlot = slot + Ticks(Delay(entry.Failures));
            return true;
        }
    }

    /// <summary>
    /// Claims one of the address's verification places: an address with failed logins may have at most as many logins
    /// on their way to the password check (waiting for the back-off, queued or hashing) as the pool has workers, so that
    /// an abusing address can never fill the pool's queue and the queue stays for everyone else; an address without
    /// failures may use the whole pool (workers and queue). False: refuse (Server busy).
    /// </summary>
    public bool TryBeginVerification(IPAddress? address)
    {
        if (address is null)
        {
            return true;
        }

        // An address without failed logins is not held to the cap: honest clients behind one address (a gateway, a NAT)
        // reconnecting together after a restart are verified together, as far as the pool's queue goes. Its first
        // wrong password records a failure, and from then on the cap applies.
        var cap = HasFailures(address) ? _verificationsPerAddress : _verificationsPerCleanAddress;
        if (_verifying.AddOrUpdate(address, 1, static (_, count) => count + 1) <= cap)
        {
            return true;
        }

        EndVerification(address);
        return false;
    }

    private bool HasFailures(IPAddress address)
    {
        if (!Enabled || !_addresses.TryGet(address, out var entry))
        {
            return false;
        }

        lock (entry)
        {
            return entry.Failures > 0;
        }
    }

    /// <summary>Gives back what <see cref="TryBeginVerification"/> claimed.</summary>
    public void EndVerification(IPAddress? address)
    {
        if (address is not null && _verifying.AddOrUpdate(address, 0, static (_, count) => count - 1) is var left && left <= 0)
        {
            _verifying.TryRemove(new KeyValuePair<IPAddress, int>(address, left));
        }
    }

    /// <summary>Records a failed login; returns how long to hold its refusal.</summary>
    public TimeSpan Failed(IPAddress? address, string username)
    {
        ArgumentNullException.ThrowIfNull(username);
        if (!Enabled)
        {
            return TimeSpan.Zero;
        }

        var now = _time.GetTimestamp();
        var last = Interlocked.Read(ref _lastPrune);
        if (now - last >= 60 * _time.TimestampFrequency && Interlocked.CompareExchange(ref _lastPrune, now, last) == last)
        {
            Prune();
        }

        var failures = Math.Max(address is null ? 0 : Fail(_addresses, address, now), Fail(_usernames, username, now));
        return failures == 0 ? TimeSpan.Zero : Delay(failures);
    }

    /// <summary>Records a successful login: both counts start again.</summary>
    public void Succeeded(IPAddress? address, string username)
    {
        ArgumentNullException.ThrowIfNull(username);
        if (address is not null)
        {
            _addresses.Remove(address);
        }

        _usernames.Remove(username);
    }

    /// <summary>Forgets entries whose last failure is older than <see cref="ForgetAfter"/>.</summary>
    public void Prune()
    {
        _addresses.Prune();
        _usernames.Prune();
    }

    /// <summary>The back-off after <paramref name="failures"/> consecutive failures.</summary>
    internal TimeSpan Delay(int failures)
    {
        var seconds = _baseSeconds * Math.Pow(2, Math.Min(failures - 1, 30));
        return seconds >= _max.TotalSeconds ? _max : TimeSpan.FromSeconds(seconds);
    }

    private int Fail<TKey>(BackoffTable<TKey> table, TKey key, long now)
        where TKey : notnull
    {
        if (!table.GetOrAdd(key, out var entry))
        {
            _metrics.LimitHit(LimitKind.LoginBackoffTableFull);
            return 0;
        }

        lock (entry)
        {
            entry.Failures = Math.Min(entry.Failures + 1, 1_000_000);
            entry.LastFailure = now;
            entry.NextSlot = Math.Max(entry.NextSlot, now + Ticks(Delay(entry.Failures)));
            return entry.Failures;
        }
    }

    private long Ticks(TimeSpan delay) => (long)(delay.TotalSeconds * _time.TimestampFrequency);
}
