namespace Iot.Routing.Commands;

/// <summary>
/// The broker's side of device commands: whether a device can take a command now, and delivery of one command to
/// that device alone (not fanned out to other subscribers), acknowledged by the device's PUBACK. The durable
/// command queue owns retries: a delivery that ends without PUBACK (the device went away) reports false and is
/// not resent by the broker.
/// </summary>
public interface IDeviceCommandChannel
{
    /// <summary>Raised (on any thread, never under a broker lock) when a device becomes ready for commands: it is
    /// connected and holds a subscription that matches its own command topics. Handlers must be quick.</summary>
    event Action<string>? DeviceReady;

    /// <summary>True when the device is connected with a subscription matching <c>devices/{id}/commands/...</c>.</summary>
    bool IsReady(string deviceId);

    /// <summary>
    /// Sends <paramref name="command"/> at QoS 1 to the device's current connection. Completes with true when the
    /// device acknowledged it (PUBACK), false when it is not ready or the connection ended first.
    /// </summary>
    Task<bool> SendAsync(DeviceCommandMessage command, CancellationToken cancellationToken = default);
}

/// <summary>One command on its way to a device.</summary>
/// <param name="DeviceId">The device (its MQTT client id).</param>
/// <param name="Topic">Normally <c>devices/{id}/commands/{name}/{commandId}</c>.</param>
/// <param name="Payload">The command body.</param>
/// <param name="ResponseTopic">MQTT 5 Response Topic, normally <c>devices/{id}/responses/{commandId}</c>.</param>
/// <param name="CorrelationData">MQTT 5 Correlation Data (e.g. the command id as UTF-8).</param>
/// <param name="MessageExpirySeconds">MQTT 5 Message Expiry Interval from the command's remaining TTL; null for none.</param>
/// <param name="ContentType">MQTT 5 content type, e.g. <c>application/json</c>.</param>
public sealed record DeviceCommandMessage(
    string DeviceId,
    string Topic,
    ReadOnlyMemory<byte> Payload,
    string? ResponseTopic = null,
    byte[]? CorrelationData = null,
    uint? MessageExpirySeconds = null,
    string? ContentType = null);
