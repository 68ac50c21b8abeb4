using System.IO.Pipelines;
using System.Net.Sockets;

namespace Iot.Broker.Mqtt.Transport;

/// <summary>
/// The socket transport's output: <see cref="FlushAsync"/> sends the encoded packets with non-blocking sends on the
/// caller's thread, awaiting the socket only when the peer's window is full (a slow reader).
/// </summary>
internal sealed class SocketPipeWriter(Socket socket) : PooledPipeWriter
{
    private bool _failed;

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (_failed)
        {
            Release();
            return new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: true));
        }

        if (Written == 0)
        {
            return default;
        }

        var sent = 0;
        while (sent < Written)
        {
            var count = socket.Send(Pending(sent).Span, SocketFlags.None, out var error);
            if (error == SocketError.Success)
            {
                sent += count;
                continue;
            }

            if (error == SocketError.WouldBlock)
            {
                return SendRestAsync(sent, cancellationToken);
            }

            // Reset, broken pipe, aborted: the peer is gone; the connection ends.
            _failed = true;
            Release();
            return new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: true));
        }

        Release();
        return default;
    }

    private async ValueTask<FlushResult> SendRestAsync(int sent, CancellationToken cancellationToken)
    {
        try
        {
            while (sent < Written)
            {
                sent += await socket.SendAsync(Pending(sent), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            }

            return default;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            _failed = true;
            return new FlushResult(isCanceled: false, isCompleted: true);
        }
        finally
        {
            Release();
        }
    }
}
