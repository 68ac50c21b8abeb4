using System.Runtime.CompilerServices;
using Iot.Broker.Mqtt;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Tests.Mqtt;

public sealed class MqttSessionExpiryTests
{
    private readonly BrokerContext _context = new(Options.Create(new MqttOptions()), new NoStore(), new BrokerMetrics(), new ManualTime());

    [Fact]
    public void IsExpired_NewSessionClaimedByAConnectThatIsStillBeingHandled_IsNotExpired()
    {
        // ConnectAsync claims the session, awaits its durable record, then attaches: a maintenance tick in between
        // must not take the session (it has no disconnect time yet) for one whose expiry has passed.
        var session = new MqttSession(_context, "claimed") { SessionExpiryInterval = 60 };
        session.Claim(UnstartedConnection());

        Assert.False(session.IsExpired(_context.NowUnixMs));
    }

    [Fact]
    public void IsExpired_DetachedLongerThanTheInterval_IsExpired_AndNotBefore()
    {
        var session = new MqttSession(_context, "detached") { SessionExpiryInterval = 60 };
        var now = _context.NowUnixMs;
        session.DisconnectedAtUnixMs = now;

        Assert.False(session.IsExpired(now + 59_999));
        Assert.True(session.IsExpired(now + 60_000));
    }

    // A connection object the session only compares by reference (no transport, no broker behind it).
    private static MqttConnection UnstartedConnection() => (MqttConnection)RuntimeHelpers.GetUninitializedObject(typeof(MqttConnection));
}
