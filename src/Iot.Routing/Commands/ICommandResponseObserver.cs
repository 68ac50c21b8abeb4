using Iot.Messaging;

namespace Iot.Routing.Commands;

/// <summary>
/// Sees device answers (<c>devices/{id}/responses/{commandId}</c>) on the publish path, before routing: the message
/// router calls it for every message and combines the task it returns with the routing task, so the device's PUBACK
/// waits until the answer is recorded.
/// </summary>
internal interface ICommandResponseObserver
{
    /// <summary>Null when <paramref name="message"/> is not a command response; else a task that completes when it is recorded.
    /// Reads the payload synchronously.</summary>
    Task? Observe(IRoutedMessage message);
}
