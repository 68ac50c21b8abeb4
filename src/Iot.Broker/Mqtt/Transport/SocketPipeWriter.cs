using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;

namespace Iot.Broker.Mqtt.Transport;

/// <summary>
/// The lean transport's output: packets are encoded into one pooled buffer and <see cref="FlushAsync"/> sends it
/// with non-blocking sends on the caller's thread, awaiting the socket only when the peer's window is full (a slow
/// reader). The buffer goes back to the pool after every flush, so an idle connection holds none.
/// </summary>
internal sealed class SocketPipeWriter(Socket socket) : PipeWriter
{
    private const int InitialSize = 4096;
    private byte[]? _buffer;
    private int _written;
    private bool _failed;

    public override void Advance(int bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        if (_buffer is null || _written + bytes > _buffer.Length)
        {
            throw new InvalidOperationException("Advance past the memory handed out.");
        }

        _written += bytes;
    }

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _buffer.AsMemory(_written);
    }

    public override Span<byte> GetSpan(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _buffer.AsSpan(_written);
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (_failed)
        {
            Release();
            return new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: true));
        }

        if (_written == 0)
        {
            return default;
        }

        var sent = 0;
        while (sent < _written)
        {
            var count = socket.Send(_buffer!, sent, _written - sent, SocketFlags.None, out var error);
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
            while (sent < _written)
            {
                sent += await socket.SendAsync(_buffer.AsMemory(sent, _written - sent), SocketFlags.None, cancellationToken).ConfigureAwait(false);
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

    public override void CancelPendingFlush()
    {
        // Flushes are not cancelled; a stuck peer is aborted by the connection's drain timeout.
    }

    public override void Complete(Exception? exception = null) => Release();

    private void Reserve(int sizeHint)
    {
        var needed = _written + Math.Max(sizeHint, 1);
        if (_buffer is null)
        {
            _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(needed, InitialSize));
        }
        else if (needed > _buffer.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, _buffer.Length * 2));
            _buffer.AsSpan(0, _written).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }
    }

    private void Release()
    {
        _written = 0;
        if (_buffer is { } buffer)
        {
            _buffer = null;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
