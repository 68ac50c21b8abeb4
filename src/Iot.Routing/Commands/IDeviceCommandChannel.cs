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
