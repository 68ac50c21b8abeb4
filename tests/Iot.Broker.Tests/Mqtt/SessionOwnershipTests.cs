using System.Runtime.CompilerServices;
using Iot.Broker.Mqtt;
using Iot.Broker.Mqtt.Persistence;
using Iot.Broker.Security;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Tests.Mqtt;

/// <summary>Who may bind a session (docs/security.md, "Client ids and sessions"), on the session manager alone.</summary>
public sealed class SessionOwnershipTests
{
    private const uint Persistent = 3600;
    private readonly BrokerContext _context;
    private readonly SubscriptionIndex _subscriptions = new();
    private readonly SessionManager _sessions;

    public SessionOwnershipTests()
    {
        _context = new BrokerContext(Options.Create(new MqttOptions { MaxPersistentSessionsPerIdentity = 2 }), new NoStore(), new BrokerMetrics(), new ManualTime());
        var retained = new RetainedMessages(_context);
        _sessions = new SessionManager(_context, _subscriptions, retained, new MessageDispatcher(_subscriptions, retained, _context.Metrics), NullLogger<SessionManager>.Instance);
    }

    [Fact]
    public async Task ConnectAsync_SessionOfAnotherIdentity_IsRefusedAndLeftAsItWas()
    {
        var own = await BindAsync("ingest-3", "svc", Persistent);
        Subscribe(own.Session!, "devices/+/telemetry");

        foreach (var cleanStart in new[] { false, true })
        {
            var intruder = await BindAsync("ingest-3", "dash", Persistent, cleanStart: cleanStart);
            Assert.Equal(SessionRefusal.OwnedByAnotherIdentity, intruder.Refusal);
            Assert.Null(intruder.Session);
        }

        var anonymous = await BindAsync("ingest-3", identity: null, Persistent);
        Assert.Equal(SessionRefusal.OwnedByAnotherIdentity, anonymous.Refusal);

        Assert.True(_sessions.TryGetSession("ingest-3", out var kept));
        Assert.Same(own.Session, kept);
        Assert.Equal(1, kept.SubscriptionCount);
    }

    [Fact]
    public async Task ConnectAsync_SameIdentity_ResumesItsSession()
    {
        var first = await BindAsync("worker-1", "svc", Persistent);
        var again = await BindAsync("worker-1", "svc", Persistent);

        Assert.Equal(SessionRefusal.None, again.Refusal);
        Assert.True(again.SessionPresent);
        Assert.Same(first.Session, again.Session);
    }

    [Fact]
    public async Task ConnectAsync_ExpiredSessionOfAnotherIdentity_FreesTheClientId()
    {
        var first = await BindAsync("shared-name", "svc", sessionExpiry: 10);
        ((ManualTime)_context.Time).Advance(TimeSpan.FromSeconds(11));

        var other = await BindAsync("shared-name", "dash", sessionExpiry: 10);

        Assert.Equal(SessionRefusal.None, other.Refusal);
        Assert.False(other.SessionPresent);
        Assert.Equal("dash", other.Session!.OwnerIdentity);
    }

    [Fact]
    public async Task ConnectAsync_PersistentSessionQuota_RefusesTheNextNewOne_NotResumesNorCleanSessions()
    {
        Assert.Equal(SessionRefusal.None, (await BindAsync("d-1", "dash", Persistent)).Refusal);
        Assert.Equal(SessionRefusal.None, (await BindAsync("d-2", "dash", Persistent)).Refusal);

        Assert.Equal(SessionRefusal.PersistentSessionQuota, (await BindAsync("d-3", "dash", Persistent)).Refusal);
        Assert.False(_sessions.TryGetSession("d-3", out _));

        // A session that ends with its connection costs nothing; resuming or restarting an own session is no new one.
        Assert.Equal(SessionRefusal.None, (await BindAsync("d-4", "dash", sessionExpiry: 0)).Refusal);
        Assert.Equal(SessionRefusal.None, (await BindAsync("d-1", "dash", Persistent)).Refusal);
        Assert.Equal(SessionRefusal.None, (await BindAsync("d-2", "dash", Persistent, cleanStart: true)).Refusal);
        Assert.Equal(2, _sessions.StoredSessionsOf("dash"));

        // Another identity has its own quota; anonymous sessions are not counted.
        Assert.Equal(SessionRefusal.None, (await BindAsync("s-1", "svc", Persistent)).Refusal);
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(SessionRefusal.None, (await BindAsync("anon-" + i, identity: null, Persistent)).Refusal);
        }

        // Reconnecting one of its sessions as not persistent gives its place back.
        Assert.Equal(SessionRefusal.None, (await BindAsync("d-1", "dash", sessionExpiry: 0)).Refusal);
        Assert.Equal(1, _sessions.StoredSessionsOf("dash"));
        Assert.Equal(SessionRefusal.None, (await BindAsync("d-3", "dash", Persistent)).Refusal);
    }

    [Fact]
    public async Task ConnectAsync_SessionStoredWithoutOwner_BelongsToTheFirstIdentityThatResumesIt()
    {
        var legacy = new MqttSession(_context, "old-worker") { SessionExpiryInterval = Persistent, Ownership = SessionOwner.NotRecorded, DisconnectedAtUnixMs = _context.NowUnixMs };
        var restored = typeof(SessionManager).GetField("_sessions", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!;
        ((System.Collections.Concurrent.ConcurrentDictionary<string, MqttSession>)restored.GetValue(_sessions)!)["old-worker"] = legacy;

        var claimed = await BindAsync("old-worker", "svc", Persistent);
        Assert.True(claimed.SessionPresent);
        Assert.Equal("svc", legacy.OwnerIdentity);
        Assert.Equal("svc", legacy.StoredOwner);
        Assert.Equal(1, _sessions.StoredSessionsOf("svc"));

        Assert.Equal(SessionRefusal.OwnedByAnotherIdentity, (await BindAsync("old-worker", "dash", Persistent)).Refusal);
    }

    [Fact]
    public async Task ConnectAsync_ResumedSession_DropsSubscriptionsItsOwnerMayNoLongerUse()
    {
        var first = await BindAsync("viewer", "svc", Persistent);
        Subscribe(first.Session!, "devices/#");
        Subscribe(first.Session!, "aggregates/#");

        var resumed = await BindAsync("viewer", "svc", Persistent, acl: new PrefixAcl("aggregates/"));

        Assert.True(resumed.SessionPresent);
        Assert.Equal(["aggregates/#"], resumed.Session!.SnapshotSubscriptions().Select(s => s.Filter));
    }

    [Fact]
    public async Task EndSessionsOf_DeletedIdentity_EndsOnlyItsSessions()
    {
        await BindAsync("a-1", "gone", Persistent);
        await BindAsync("a-2", "gone", Persistent);
        await BindAsync("b-1", "stays", Persistent);

        Assert.Equal(2, _sessions.EndSessionsOf("gone"));

        Assert.False(_sessions.TryGetSession("a-1", out _));
        Assert.True(_sessions.TryGetSession("b-1", out _));
        Assert.Equal(0, _sessions.StoredSessionsOf("gone"));
    }

    /// <summary>A CONNECT whose connection goes away at once (so the next one resumes rather than takes over).</summary>
    private async Task<SessionBinding> BindAsync(string clientId, string? identity, uint sessionExpiry, bool cleanStart = false, IPrincipalAcl? acl = null)
    {
        var connection = UnstartedConnection();
        var binding = await _sessions.ConnectAsync(connection, clientId, identity, acl, cleanStart, sessionExpiry, protocolVersion: 5);
        if (binding.Session is { } session)
        {
            // Never attached, so Detach only releases the claim: the disconnect time is the test's to set.
            session.Detach(connection, _context.NowUnixMs);
            session.DisconnectedAtUnixMs = _context.NowUnixMs;
        }

        return binding;
    }

    private void Subscribe(MqttSession session, string filter) =>
        _subscriptions.Subscribe(Subscription.FromStored(session, new PersistedSubscription(filter, 1, false, false, 0, 0)));

    // A connection the session only compares by reference (no transport, no broker behind it).
    private static MqttConnection UnstartedConnection() => (MqttConnection)RuntimeHelpers.GetUninitializedObject(typeof(MqttConnection));

    private sealed class PrefixAcl(string prefix) : IPrincipalAcl
    {
        public bool CanPublish(string topic) => topic.StartsWith(prefix, StringComparison.Ordinal);

        public bool CanSubscribe(string filter) => filter.StartsWith(prefix, StringComparison.Ordinal);
    }
}
