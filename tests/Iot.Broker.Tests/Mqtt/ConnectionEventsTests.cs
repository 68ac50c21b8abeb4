using Iot.Broker.Mqtt;
using Iot.Broker.Security;
using Iot.Messaging.Crossover;
using Iot.TestUtilities;
using Microsoft.Extensions.Time.Testing;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Iot.Broker.Tests.Mqtt;

public sealed class ConnectionEventsTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));

    [Theory]
    [InlineData(true, null, "ClientDisconnect")]
    [InlineData(false, null, "ConnectionLost")]
    [InlineData(false, MqttDisconnectReasonCode.KeepAliveTimeout, "KeepAliveTimeout")]
    [InlineData(false, MqttDisconnectReasonCode.SessionTakenOver, "SessionTakenOver")]
    [InlineData(false, MqttDisconnectReasonCode.NotAuthorized, "AccessRevoked")]
    [InlineData(false, MqttDisconnectReasonCode.ServerShuttingDown, "ServerShuttingDown")]
    [InlineData(false, MqttDisconnectReasonCode.UseAnotherServer, "ClusterCutOff")]
    [InlineData(false, MqttDisconnectReasonCode.UnspecifiedError, "ServerError")]
    [InlineData(false, MqttDisconnectReasonCode.MalformedPacket, "ProtocolError")]
    [InlineData(true, MqttDisconnectReasonCode.ProtocolError, "ProtocolError")]
    [InlineData(false, MqttDisconnectReasonCode.MessageRateTooHigh, "ProtocolError")]
    public void ReasonOf_EachWayAConnectionEnds(bool clientDisconnect, MqttDisconnectReasonCode? closeReason, string expected) =>
        Assert.Equal(expected, ConnectionEvents.ReasonOf(clientDisconnect, closeReason));

    [Theory]
    [InlineData(CrossoverConnectionEvents.Devices, null, true)]
    [InlineData(CrossoverConnectionEvents.Devices, IdentityRole.Device, true)]
    [InlineData(CrossoverConnectionEvents.Devices, IdentityRole.Service, false)]
    [InlineData(CrossoverConnectionEvents.Devices, IdentityRole.Dashboard, false)]
    [InlineData(CrossoverConnectionEvents.All, IdentityRole.Dashboard, true)]
    [InlineData(CrossoverConnectionEvents.None, IdentityRole.Device, false)]
    public void Covers_ByTheSetting(CrossoverConnectionEvents setting, IdentityRole? role, bool expected)
    {
        var events = new ConnectionEvents(new RecordingCrossoverEvents(), new CrossoverOptions { ConnectionEvents = setting }, _time, null);
        Assert.Equal(expected, events.Covers(new IotPrincipal("c1", role is null ? null : "c1", role)));
    }

    [Fact]
    public void ConnectedThenDisconnected_SubjectPerClientAndTheReason()
    {
        var recorded = new RecordingCrossoverEvents();
        var events = new ConnectionEvents(recorded, new CrossoverOptions(), _time, "n-1");
        var principal = new IotPrincipal("sensor/7", "sensor-7", IdentityRole.Device);
        events.Connected(principal, MqttProtocolVersion.V500, cleanStart: true, sessionPresent: false, sessionExpiry: 0);
        events.Disconnected(principal, MqttProtocolVersion.V500, clientDisconnect: false, MqttDisconnectReasonCode.KeepAliveTimeout, TimeSpan.FromSeconds(90));

        var raised = recorded.Raised.ToArray();
        Assert.Equal([CrossoverTypes.DeviceConnected, CrossoverTypes.DeviceDisconnected], raised.Select(e => e.Type));
        Assert.All(raised, e => Assert.Equal(("$iot/devices/sensor%2F7", "/iot/mqtt"), (e.Subject, e.Source)));
        Assert.Equal(("sensor/7", "sensor-7", "device", "5.0", "n-1"), (raised[0].Data["clientId"]!.GetValue<string>(),
            raised[0].Data["identity"]!.GetValue<string>(), raised[0].Data["role"]!.GetValue<string>(),
            raised[0].Data["protocolVersion"]!.GetValue<string>(), raised[0].Data["node"]!.GetValue<string>()));
        Assert.Equal(("KeepAliveTimeout", (int)MqttDisconnectReasonCode.KeepAliveTimeout, 90.0), (raised[1].Data["reason"]!.GetValue<string>(),
            raised[1].Data["mqttReasonCode"]!.GetValue<int>(), raised[1].Data["connectedSeconds"]!.GetValue<double>()));
    }
}
