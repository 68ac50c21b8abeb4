using Iot.Broker.Mqtt;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Iot.Broker.Tests.Mqtt;

/// <summary>What DISCONNECT changes at the end of a connection: whether the will is published, and the session expiry.</summary>
public sealed class ClientDepartureTests
{
    private static readonly ClientWill Will = new(new BrokerMessage { Topic = "wills/a", Payload = "gone"u8.ToArray() }, 0);

    [Fact]
    public void NoDisconnect_TheWillIsPublished()
    {
        var departure = default(ClientDeparture);
        departure.Connected(Will, sessionExpiry: 60);

        Assert.Same(Will, departure.WillToPublish);
        Assert.False(departure.ClientDisconnected);
        Assert.False(departure.WillCancelled);
    }

    [Fact]
    public void NormalDisconnect_CancelsTheWill()
    {
        var departure = default(ClientDeparture);
        departure.Connected(Will, sessionExpiry: 60);

        var verdict = departure.OnDisconnect(new MqttDisconnectPacket { ReasonCode = MqttDisconnectReasonCode.NormalDisconnection }, v5: true);

        Assert.Equal(DepartureVerdict.Done, verdict);
        Assert.Null(departure.WillToPublish);
        Assert.True(departure.WillCancelled);
        Assert.True(departure.ClientDisconnected);
    }

    [Fact]
    public void DisconnectWithWillMessage_KeepsTheWill()
    {
        var departure = default(ClientDeparture);
        departure.Connected(Will, sessionExpiry: 60);

        departure.OnDisconnect(new MqttDisconnectPacket { ReasonCode = MqttDisconnectReasonCode.DisconnectWithWillMessage }, v5: true);

        Assert.Same(Will, departure.WillToPublish);
    }

    [Fact]
    public void SessionExpiryAtDisconnect_IsSetWhenConnectMadeTheSessionPersistent()
    {
        var departure = default(ClientDeparture);
        departure.Connected(Will, sessionExpiry: 60);

        var verdict = departure.OnDisconnect(new MqttDisconnectPacket { SessionExpiryInterval = 300 }, v5: true);

        Assert.Equal(DepartureVerdict.SetSessionExpiry, verdict);
        Assert.Null(departure.WillToPublish);
    }

    [Fact]
    public void SessionExpiryAtDisconnect_AfterConnectSetZero_IsAProtocolErrorAndTheWillIsPublished()
    {
        var departure = default(ClientDeparture);
        departure.Connected(Will, sessionExpiry: 0);

        var verdict = departure.OnDisconnect(new MqttDisconnectPacket { SessionExpiryInterval = 300 }, v5: true);

        Assert.Equal(DepartureVerdict.ProtocolError, verdict);
        Assert.Same(Will, departure.WillToPublish);
    }

    [Fact]
    public void SessionExpiryInAnMqtt311Disconnect_IsIgnored()
    {
        var departure = default(ClientDeparture);
        departure.Connected(null, sessionExpiry: 0);

        Assert.Equal(DepartureVerdict.Done, departure.OnDisconnect(new MqttDisconnectPacket { SessionExpiryInterval = 300 }, v5: false));
    }

    [Fact]
    public void ConnectedEvent_IsRememberedEvenAtTimestampZero()
    {
        var departure = default(ClientDeparture);
        Assert.False(departure.ConnectedEventRaised);

        departure.ConnectedEventRaisedAt(0);

        Assert.True(departure.ConnectedEventRaised);
    }
}
