using System.Text;
using Iot.Routing.Commands;

namespace Iot.Broker.Mqtt;

/// <summary>
/// Delivers device commands straight to the device's session (not through the topic tree, so no other subscriber
/// sees them) and tells the command queue when a device is ready for them.
/// </summary>
internal sealed class BrokerCommandChannel(SessionManager sessions, BrokerContext context, ILogger<BrokerCommandChannel> logger)
    : IDeviceCommandChannel
{
    public event Action<string>? DeviceReady;

    public bool IsReady(string deviceId)
    {
        ArgumentNullException.ThrowIfNull(deviceId);
        return sessions.TryGetSession(deviceId, out var session) && session.IsConnected
            && session.HasMatchingSubscription(SampleCommandTopic(deviceId));
    }

    public Task<bool> SendAsync(DeviceCommandMessage command, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        // The command's own topic must be one the device subscribed to and may read: a deny rule on a command subtree
        // keeps those commands from a device whose 'devices/{id}/commands/#' it only overlaps (they end dead-lettered).
        if (!IsReady(command.DeviceId) || !sessions.TryGetSession(command.DeviceId, out var session)
            || !session.HasMatchingSubscription(command.Topic))
        {
            return Task.FromResult(false);
        }

        var now = context.NowUnixMs;
        var message = new BrokerMessage
        {
            Topic = command.Topic,
            Payload = command.Payload,
            QualityOfService = 1,
            ResponseTopic = command.ResponseTopic,
            CorrelationData = command.CorrelationData,
            ContentType = command.ContentType,
            PayloadFormatIndicator = command.ContentType is { } type && type.Contains("json", StringComparison.OrdinalIgnoreCase) ? (byte)1 : (byte)0,
            ExpiresAtUnixMs = command.MessageExpirySeconds is { } seconds and > 0 ? now + (seconds * 1000L) : 0,
            ReceivedAtUnixMs = now,
            UserProperties = command.TraceParent is { } traceParent ? [new MQTTnet.Packets.MqttUserProperty(Iot.Messaging.Telemetry.IotTracing.TraceParent, System.Text.Encoding.UTF8.GetBytes(traceParent).AsMemory())] : null,
        };
        var acknowledged = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!session.EnqueueCommand(message, acknowledged))
        {
            return Task.FromResult(false);
        }

        return cancellationToken.CanBeCanceled ? acknowledged.Task.WaitAsync(cancellationToken) : acknowledged.Task;
    }

    /// <summary>Called after CONNACK and after SUBACK: raises <see cref="DeviceReady"/> when the client now qualifies.</summary>
    public void NotifyIfReady(MqttSession session)
    {
        var handler = DeviceReady;
        if (handler is null || !session.IsConnected || !session.HasMatchingSubscription(SampleCommandTopic(session.ClientId)))
        {
            return;
        }

        try
        {
            handler(session.ClientId);
        }
        catch (Exception ex)
        {
            BrokerLog.CommandHandlerFailed(logger, session.ClientId, ex);
        }
    }

    /// <summary>A topic every command subscription of the device must match: <c>devices/{id}/commands/x/x</c>.</summary>
    private static string SampleCommandTopic(string deviceId) =>
        new StringBuilder("devices/").Append(deviceId).Append("/commands/x/x").ToString();
}
