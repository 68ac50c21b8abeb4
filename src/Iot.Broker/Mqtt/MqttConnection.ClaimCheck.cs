using System.Runtime.InteropServices;
using Iot.Routing.ClaimCheck;

namespace Iot.Broker.Mqtt;

/// <summary>
/// A publish whose payload is claim-checked (docs/api.md, "Claim check"): the payload goes to the blob store first
/// (durable, committed), then the reference is dispatched like any message. The receive side reads nothing more from
/// this client until the blob is written (<see cref="OnFrameAsync"/> awaits <see cref="_claimCheck"/>).
/// </summary>
internal sealed partial class MqttConnection
{
    /// <summary>The claim-checked publish being stored, set by HandlePublish and awaited before the next packet is read.</summary>
    private Task? _claimCheck;

    /// <summary>Awaits the claim-checked publish the last packet started, if any.</summary>
    private async ValueTask AwaitClaimCheckAsync()
    {
        var pending = _claimCheck!;
        _claimCheck = null;
        await pending.ConfigureAwait(false);
    }

    private async Task PublishClaimCheckedAsync(ClaimCheckService claims, BrokerMessage message, ushort packetId)
    {
        ClaimCheckReference reference;
        try
        {
            var content = MemoryMarshal.TryGetArray(message.Payload, out var segment)
                ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
                : new MemoryStream(message.Payload.ToArray(), writable: false);
            await using (content.ConfigureAwait(false))
            {
                reference = await claims.StoreAsync(content, message.ContentType, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or Azure.RequestFailedException)
        {
            // Nothing was dispatched: MQTT 5 gets a negative acknowledgement, MQTT 3.1.1 is disconnected (SendAck), so
            // that the client sends again; QoS 0 is lost, as when any durable write fails.
            BrokerLog.ClaimCheckFailed(_broker.Logger, ClientId, message.Topic, e);
            if (message.QualityOfService > 0)
            {
                EnqueueAck(new PendingAck(packetId, message.QualityOfService, Task.FromException(e)));
            }

            return;
        }

        var referenceMessage = ClaimCheckedMessages.CreateReference(message, reference);
        try
        {
            Dispatch(referenceMessage, packetId);
        }
        finally
        {
            ClaimCheckedMessages.Detach(referenceMessage);
        }
    }
}
