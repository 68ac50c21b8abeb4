using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace Iot.Broker.Mqtt.Transport;

/// <summary>
/// A Kestrel connection (TCP, TLS or WebSocket) seen as an <see cref="MqttTransport"/>: it reads Kestrel's pipe and
/// hands the packets over as the lean transports do (<see cref="FrameHandling"/>), then closes the same way
/// (<see cref="CloseLinger"/>).
/// </summary>
internal sealed class KestrelMqttTransport(ConnectionContext connection) : MqttTransport, IFrameSource
{
    // What the current read returned and the framing has not taken yet.
    private ReadOnlySequence<byte> _buffer;

    private PipeReader Input => connection.Transport.Input;

    public override PipeWriter Output => connection.Transport.Output;

    public override string ConnectionId => connection.ConnectionId;

    public override EndPoint? RemoteEndPoint => connection.RemoteEndPoint;

    public override X509Certificate2? ClientCertificate => connection.Features.Get<ITlsConnectionFeature>()?.ClientCertificate;

    public override void CancelReceive() => connection.Transport.Input.CancelPendingRead();

    public override void Abort() => connection.Abort();

    /// <summary>Runs <paramref name="mqtt"/> over this connection until either side ends it.</summary>
    public async Task RunAsync(MqttConnection mqtt)
    {
        mqtt.Open();
        try
        {
            await ReceiveAsync(mqtt).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or ConnectionResetException or IOException or ObjectDisposedException)
        {
            // The peer went away or the connection was closed by us; the finally block cleans up.
        }
        catch (Exception ex)
        {
            BrokerLog.ConnectionFailed(mqtt.Logger, ConnectionId, ex);
        }
        finally
        {
            await mqtt.ShutdownAsync().ConfigureAwait(false);
            if (mqtt.DisconnectSent)
            {
                // Kestrel cannot shut only the send side: it closes the socket when this handler returns. Until the
                // client, which got a DISCONNECT, closes, keep reading so that nothing is left unread to reset it.
                await CloseLinger.RunAsync(mqtt, DrainAsync).ConfigureAwait(false);
            }
        }
    }

    private async Task ReceiveAsync(MqttConnection mqtt)
    {
        var maxPacketSize = mqtt.Context.Options.MaxPacketSize;
        while (true)
        {
            var result = await Input.ReadAsync().ConfigureAwait(false);
            if (result.IsCanceled || mqtt.IsClosing)
            {
                return;
            }

            _buffer = result.Buffer;
            bool keepGoing;
            try
            {
                keepGoing = await FrameHandling.HandleAsync(this, mqtt, maxPacketSize).ConfigureAwait(false);
            }
            finally
            {
                Input.AdvanceTo(_buffer.Start, _buffer.End);
                _buffer = default;
            }

            if (!keepGoing || result.IsCompleted)
            {
                return;
            }
        }
    }

    /// <inheritdoc/>
    FramingStatus IFrameSource.NextFrame(MqttConnection connection, int maxPacketSize, out byte header, out byte[] body, out int total)
    {
        // Handled where it lies when it is one of the small packets of a publish flow in the first segment.
        var first = _buffer.FirstSpan;
        if (PacketFraming.TryReadHeader(first, maxPacketSize, out header, out var headerLength, out total) == FramingStatus.Packet
            && first.Length >= total && connection.TryHandleInline(header, first[headerLength..total], total))
        {
            body = [];
            _buffer = _buffer.Slice(total);
            return FramingStatus.Handled;
        }

        return PacketFraming.TryRead(ref _buffer, maxPacketSize, out header, out body, out total);
    }

    /// <summary>Reads and discards what the client still sends until it closes (the DISCONNECT has been flushed).</summary>
    private async Task DrainAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await Input.ReadAsync(cancellationToken).ConfigureAwait(false);
            Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return;
            }
        }
    }
}
