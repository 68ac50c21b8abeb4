using System.Buffers;
using System.IO.Pipelines;

namespace Iot.Broker.Mqtt.Transport;

/// <summary>
/// The output of the lean transports: packets are encoded into one buffer from the pool, which a subclass's
/// <see cref="PipeWriter.FlushAsync"/> sends and then gives back (<see cref="Release"/>), so an idle connection holds
/// none.
/// </summary>
internal abstract class PooledPipeWriter : PipeWriter
{
    private const int InitialSize = 4096;
    private byte[]? _buffer;
    private int _written;

    /// <summary>Bytes encoded and not yet sent.</summary>
    protected int Written => _written;

    /// <summary>The encoded bytes from <paramref name="offset"/> on.</summary>
    protected Memory<byte> Pending(int offset) => _buffer.AsMemory(offset, _written - offset);

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

    public override void CancelPendingFlush()
    {
        // Flushes are not cancelled; a stuck peer is aborted by the connection's drain timeout.
    }

    public override void Complete(Exception? exception = null) => Release();

    /// <summary>Forgets what was encoded and gives the buffer back to the pool.</summary>
    protected void Release()
    {
        _written = 0;
        if (_buffer is { } buffer)
        {
            _buffer = null;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

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
}
