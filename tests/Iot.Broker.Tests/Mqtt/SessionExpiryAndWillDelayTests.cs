using System.Runtime.CompilerServices;
using Iot.Broker.Mqtt;
using Iot.Broker.Mqtt.Persistence;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Broker.Tests.Mqtt;

/// <summary>
/// Session expiry and the will delay on the session manager with a <see cref="FakeTimeProvider"/>: what the
/// maintenance tick does at each second, without waiting for one.
/// </summary>
public sealed class SessionExpiryAndWillDelayTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 6, 10, 0, 0, TimeSpan.Zero));
    private readonly BrokerContext _context;
    private readonly SubscriptionIndex _subscriptions = new();
    private readonly SessionManager _sessions;

    public SessionExpiryAndWillDelayTests()
    {
        _context = new BrokerContext(Options.Create(new MqttOptions()), new NoStore(), new BrokerMetrics(), _time);
        var retained = new RetainedMessages(_context);
        _sessions = new SessionManager(_context, _subscriptions, retained, new MessageDispatcher(_subscriptions, retained, _context.Metrics), NullLogger<SessionManager>.Instance);
    }

    [Fact]
    public async Task SessionExpiry_EndsTheSessionWhenItsIntervalPassed_NotASecondBefore()
    {
        var (session, connection) = await ConnectAsync("expiring", sessionExpiry: 60);
        _sessions.Disconnected(session, connection, will: null, willDelay: 0);

        _time.Advance(TimeSpan.FromSeconds(59));
        _sessions.RunMaintenance();
        Assert.True(_sessions.TryGetSession("expiring", out _));

        _time.Advance(TimeSpan.FromSeconds(1));
        _sessions.RunMaintenance();
        Assert.False(_sessions.TryGetSession("expiring", out _));
        Assert.Equal(1, _context.Metrics.Read(BrokerCounter.SessionsExpired));
    }

    [Fact]
    public async Task SessionExpiry_AReconnectBeforeTheInterval_ResumesTheSession()
    {
        var (session, connection) = await ConnectAsync("returning", sessionExpiry: 60);
        _sessions.Disconnected(session, connection, will: null, willDelay: 0);
        _time.Advance(TimeSpan.FromSeconds(30));

        var (again, _) = await ConnectAsync("returning", sessionExpiry: 60);
        _time.Advance(TimeSpan.FromSeconds(60));
        _sessions.RunMaintenance();

        Assert.Same(session, again);
        Assert.True(_sessions.TryGetSession("returning", out _));
    }

    [Fact]
    public async Task WillDelay_TheWillIsPublishedWhenTheDelayPassed_NotBefore()
    {
        var watcher = Watch("wills/delayed");
        var (session, connection) = await ConnectAsync("will-client", sessionExpiry: 300);

        _sessions.Disconnected(session, connection, Will("wills/delayed"), willDelay: 10);
        _time.Advance(TimeSpan.FromSeconds(9));
        _sessions.RunMaintenance();
        Assert.Empty(watcher.Topics);

        _time.Advance(TimeSpan.FromSeconds(1));
        _sessions.RunMaintenance();
        Assert.Equal(["wills/delayed"], watcher.Topics);
        Assert.Equal(1, _context.Metrics.Read(BrokerCounter.WillsPublished));
    }

    [Fact]
    public async Task WillDelay_AReconnectWithinTheDelay_CancelsTheWill()
    {
        var watcher = Watch("wills/cancelled");
        var (session, connection) = await ConnectAsync("will-back", sessionExpiry: 300);
        _sessions.Disconnected(session, connection, Will("wills/cancelled"), willDelay: 10);

        _time.Advance(TimeSpan.FromSeconds(5));
        await ConnectAsync("will-back", sessionExpiry: 300);
        _time.Advance(TimeSpan.FromSeconds(30));
        _sessions.RunMaintenance();

        Assert.Empty(watcher.Topics);
    }

    [Fact]
    public async Task WillDelay_LongerThanTheSessionExpiry_TheWillGoesWhenTheSessionEnds()
    {
        var watcher = Watch("wills/at-expiry");
        var (session, connection) = await ConnectAsync("will-expiry", sessionExpiry: 5);
        _sessions.Disconnected(session, connection, Will("wills/at-expiry"), willDelay: 60);

        _time.Advance(TimeSpan.FromSeconds(4));
        _sessions.RunMaintenance();
        Assert.Empty(watcher.Topics);

        _time.Advance(TimeSpan.FromSeconds(1));
        _sessions.RunMaintenance();
        Assert.Equal(["wills/at-expiry"], watcher.Topics);
        Assert.False(_sessions.TryGetSession("will-expiry", out _));
    }

    [Fact]
    public async Task WillDelay_SessionEndsWithTheConnection_TheWillGoesAtOnce()
    {
        var watcher = Watch("wills/now");
        var (session, connection) = await ConnectAsync("will-now", sessionExpiry: 0);

        _sessions.Disconnected(session, connection, Will("wills/now"), willDelay: 30);

        Assert.Equal(["wills/now"], watcher.Topics);
    }

    private async Task<(MqttSession Session, MqttConnection Connection)> ConnectAsync(string clientId, uint sessionExpiry)
    {
        var connection = UnstartedConnection();
        var binding = await _sessions.ConnectAsync(connection, clientId, identity: null, acl: null, cleanStart: false, sessionExpiry, protocolVersion: 5);
        Assert.Equal(SessionRefusal.None, binding.Refusal);
        Assert.True(binding.Session!.Attach(connection, window: 10));
        return (binding.Session, connection);
    }

    /// <summary>A connected session subscribed to <paramref name="filter"/>, recording what it is sent.</summary>
    private RecordingTarget Watch(string filter)
    {
        var session = new MqttSession(_context, "watcher-" + filter);
        var target = new RecordingTarget();
        session.Claim(target);
        session.Attach(target, window: 10);
        _subscriptions.Subscribe(Subscription.FromStored(session, new PersistedSubscription(filter, 0, false, false, 0, 0)));
        return target;
    }

    private static BrokerMessage Will(string topic) => new() { Topic = topic, Payload = "gone"u8.ToArray() };

    // A connection the session and the manager only compare by reference and ask whether it was taken over.
    private static MqttConnection UnstartedConnection() => (MqttConnection)RuntimeHelpers.GetUninitializedObject(typeof(MqttConnection));
}
