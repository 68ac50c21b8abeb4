using System.Text.Json.Nodes;
using Iot.Broker.Security;
using Iot.Messaging.Crossover;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Iot.Broker.Mqtt;

/// <summary>
/// The MQTT side of crossover events: <see cref="CrossoverTypes.DeviceConnected"/> when a client's CONNACK went out
/// with its session attached, <see cref="CrossoverTypes.DeviceDisconnected"/> with the reason when that connection
/// ended. Raised by the node that holds the connection, handed to <see cref="ICrossoverEvents"/> (never waits).
/// Which clients raise them: <see cref="CrossoverOptions.ConnectionEvents"/>.
/// </summary>
internal sealed class ConnectionEvents(ICrossoverEvents? events, CrossoverOptions options, TimeProvider timeProvider, string? nodeId)
{
    private const string Source = "/iot/mqtt";

    /// <summary>Events are off, or no publisher is in the host.</summary>
    public static ConnectionEvents None { get; } = new(null, new CrossoverOptions { Enabled = false }, TimeProvider.System, null);

    /// <summary>Whether the connection of <paramref name="principal"/> raises connection events.</summary>
    public bool Covers(IotPrincipal principal) => events is { IsEnabled: true } && options.ConnectionEvents switch
    {
        CrossoverConnectionEvents.All => true,
        CrossoverConnectionEvents.Devices => principal.Role is null or IdentityRole.Device,
        _ => false,
    };

    /// <summary>The client connected.</summary>
    public void Connected(IotPrincipal principal, MqttProtocolVersion version, bool cleanStart, bool sessionPresent, uint sessionExpiry)
    {
        var data = Describe(principal, version);
        data["cleanStart"] = cleanStart;
        data["sessionPresent"] = sessionPresent;
        data["sessionExpiryInterval"] = sessionExpiry;
        Raise(CrossoverTypes.DeviceConnected, principal, data);
    }

    /// <summary>The connection of a client that had connected ended.</summary>
    /// <param name="principal">Who it was.</param>
    /// <param name="version">Its MQTT version.</param>
    /// <param name="clientDisconnect">It sent DISCONNECT (normal or with will).</param>
    /// <param name="closeReason">The broker's reason to close it, when the broker closed it.</param>
    /// <param name="connectedFor">How long it was connected.</param>
    public void Disconnected(IotPrincipal principal, MqttProtocolVersion version, bool clientDisconnect, MqttDisconnectReasonCode? closeReason, TimeSpan connectedFor)
    {
        var data = Describe(principal, version);
        data["reason"] = ReasonOf(clientDisconnect, closeReason);
        data["mqttReasonCode"] = closeReason is { } code ? (int)code : null;
        data["connectedSeconds"] = Math.Round(connectedFor.TotalSeconds, 3);
        Raise(CrossoverTypes.DeviceDisconnected, principal, data);
    }

    /// <summary>The documented reason (docs/api.md): who ended the connection, in a word.</summary>
    internal static string ReasonOf(bool clientDisconnect, MqttDisconnectReasonCode? closeReason) => closeReason switch
    {
        // A protocol error found while handling the client's DISCONNECT is the broker's reason, not the client's.
        null when clientDisconnect => "ClientDisconnect",
        null => "ConnectionLost",
        MqttDisconnectReasonCode.KeepAliveTimeout => "KeepAliveTimeout",
        MqttDisconnectReasonCode.SessionTakenOver => "SessionTakenOver",
        MqttDisconnectReasonCode.NotAuthorized => "AccessRevoked",
        MqttDisconnectReasonCode.ServerShuttingDown => "ServerShuttingDown",
        MqttDisconnectReasonCode.UseAnotherServer => "ClusterCutOff",
        MqttDisconnectReasonCode.UnspecifiedError => "ServerError",
        _ => "ProtocolError",
    };

    private JsonObject Describe(IotPrincipal principal, MqttProtocolVersion version) => new()
    {
        ["clientId"] = principal.ClientId,
        ["identity"] = principal.Username,
        ["role"] = principal.Role is { } role ? role.ToString().ToLowerInvariant() : "anonymous",
        ["protocolVersion"] = version switch
        {
            MqttProtocolVersion.V500 => "5.0",
            MqttProtocolVersion.V311 => "3.1.1",
            MqttProtocolVersion.V310 => "3.1",
            _ => "unknown",
        },
        ["node"] = nodeId,
    };

    private void Raise(string type, IotPrincipal principal, JsonObject data) =>
        events?.TryRaise(new CrossoverEvent(type, Source, CrossoverTypes.SubjectPrefix + "devices/" + CrossoverTypes.Level(principal.ClientId),
            data, timeProvider.GetUtcNow()));
}
