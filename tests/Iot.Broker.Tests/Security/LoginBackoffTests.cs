using System.Net;
using Iot.Broker.Mqtt;
using Iot.Broker.Security;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Broker.Tests.Security;

public sealed class LoginBackoffTests
{
    private static readonly IPAddress Attacker = IPAddress.Parse("192.0.2.1");
    private static readonly IPAddress Device = IPAddress.Parse("198.51.100.9");
    private readonly FakeTimeProvider _time = new();
    private readonly BrokerMetrics _metrics = new();

    [Fact]
    public void Failed_Consecutively_DoublesUpToTheCap()
    {
        var backoff = Create();

        var delays = Enumerable.Range(0, 8).Select(_ => backoff.Failed(Attacker, "dev-a").TotalSeconds).ToArray();

        Assert.Equal([0.5, 1, 2, 4, 8, 10, 10, 10], delays);
    }

    [Fact]
    public void Failed_CountsTheLargerOfAddressAndUsername()
    {
        var backoff = Create();
        for (var i = 0; i < 4; i++)
        {
            backoff.Failed(Attacker, "dev-a");
        }

        // A new address guessing the same username answers after the username's back-off (5th failure: 8 s) ...
        Assert.Equal(TimeSpan.FromSeconds(8), backoff.Failed(Device, "dev-a"));
        // ... and the attacker's address after its own, whatever username it tries (5th failure from it: 8 s).
        Assert.Equal(TimeSpan.FromSeconds(8), backoff.Failed(Attacker, "other"));
    }

    [Fact]
    public void Succeeded_ResetsAddressAndUsername()
    {
        var backoff = Create();
        for (var i = 0; i < 5; i++)
        {
            backoff.Failed(Attacker, "dev-a");
        }

        backoff.Succeeded(Attacker, "dev-a");

        Assert.Equal(TimeSpan.FromSeconds(0.5), backoff.Failed(Attacker, "dev-a"));
    }

    [Fact]
    public void TryEnter_AfterFailures_SpacesVerificationsFromThatAddressAndRefusesBeyondTheCap()
    {
        var backoff = Create();
        for (var i = 0; i < 6; i++)
        {
            backoff.Failed(Attacker, "dev-a"); // back-off now 10 s, the cap
        }

        Assert.True(backoff.TryEnter(Attacker, out var first));
        Assert.Equal(TimeSpan.FromSeconds(10), first);
        Assert.False(backoff.TryEnter(Attacker, out _)); // the next slot is 20 s away: refused, nothing hashed

        _time.Advance(TimeSpan.FromSeconds(20));
        Assert.True(backoff.TryEnter(Attacker, out var later));
        Assert.Equal(TimeSpan.Zero, later);
    }

    [Fact]
    public void TryEnter_UsernameUnderAttack_DoesNotDelayTheRightPasswordFromAnotherAddress()
    {
        var backoff = Create();
        for (var i = 0; i < 100; i++)
        {
            backoff.Failed(Attacker, "dev-a");
        }

        Assert.True(backoff.TryEnter(Device, out var wait));
        Assert.Equal(TimeSpan.Zero, wait);
        backoff.Succeeded(Device, "dev-a");
        Assert.Equal(0, backoff.TrackedUsernames);
    }

    [Fact]
    public void TryEnter_NoFailures_AdmitsAtOnce()
    {
        var backoff = Create();

        Assert.True(backoff.TryEnter(Device, out var wait));
        Assert.Equal(TimeSpan.Zero, wait);
        Assert.Equal(0, backoff.TrackedAddresses);
    }

    [Fact]
    public void Failed_SprayingUsernames_StaysWithinTheTableBound()
    {
        var backoff = Create(maxTracked: 100);

        for (var i = 0; i < 10_000; i++)
        {
            backoff.Failed(Attacker, "user-" + i);
        }

        Assert.Equal(100, backoff.TrackedUsernames);
        Assert.Equal(1, backoff.TrackedAddresses);
        Assert.Equal(9_900, _metrics.LimitHits(LimitKind.LoginBackoffTableFull));
        // The address is still tracked, so the spray backs off all the same.
        Assert.Equal(TimeSpan.FromSeconds(10), backoff.Failed(Attacker, "user-x"));
    }

    [Fact]
    public void Prune_ForgetsEntriesFifteenMinutesAfterTheirLastFailure()
    {
        var backoff = Create();
        backoff.Failed(Attacker, "dev-a");
        _time.Advance(TimeSpan.FromMinutes(14));
        backoff.Prune();
        Assert.Equal(1, backoff.TrackedAddresses);

        _time.Advance(TimeSpan.FromMinutes(1.1));
        backoff.Prune();

        Assert.Equal(0, backoff.TrackedAddresses);
        Assert.Equal(0, backoff.TrackedUsernames);
    }

    [Fact]
    public void Failed_BaseZero_TurnsTheBackoffOff()
    {
        var backoff = Create(baseMilliseconds: 0);

        Assert.Equal(TimeSpan.Zero, backoff.Failed(Attacker, "dev-a"));
        Assert.True(backoff.TryEnter(Attacker, out var wait));
        Assert.Equal(TimeSpan.Zero, wait);
    }

    [Fact]
    public void TryBeginVerification_AddressWithoutFailures_UsesThePool_AfterAFailureOnlyTheWorkers()
    {
        // One worker, a queue of 4: a gateway's devices reconnecting together are verified together.
        var backoff = Create(hashConcurrency: 1, hashQueue: 4);
        for (var i = 0; i < 5; i++)
        {
            Assert.True(backoff.TryBeginVerification(Device), $"login {i} from an address without failures");
        }

        Assert.False(backoff.TryBeginVerification(Device));
        for (var i = 0; i < 5; i++)
        {
            backoff.EndVerification(Device);
        }

        // After a wrong password the address may have only as many logins under way as the pool has workers.
        backoff.Failed(Attacker, "dev-a");
        Assert.True(backoff.TryBeginVerification(Attacker));
        Assert.False(backoff.TryBeginVerification(Attacker));
        backoff.EndVerification(Attacker);
        Assert.True(backoff.TryBeginVerification(Attacker));
    }

    private LoginBackoff Create(int baseMilliseconds = 500, int maxSeconds = 10, int maxTracked = 1000, int hashConcurrency = 0, int hashQueue = 16) =>
        new(Options.Create(new LoginProtectionOptions
        {
            LoginBackoffBaseMilliseconds = baseMilliseconds,
            LoginBackoffMaxSeconds = maxSeconds,
            LoginBackoffMaxTracked = maxTracked,
            PasswordHashConcurrency = hashConcurrency,
            PasswordHashQueue = hashQueue,
        }), _time, _metrics);
}
