using Microsoft.AspNetCore.Http;

namespace Iot.Routing.ClaimCheck;

/// <summary>
/// Reads an HTTP request body for a queue send: kept in memory when it has at most
/// <see cref="ClaimCheckOptions.ThresholdBytes"/>, else streamed into a blob (never buffered whole) and replaced by a
/// reference.
/// </summary>
internal static class ClaimCheckBodies
{
    /// <summary>
    /// The body inline, or the reference to the blob it was stored as; <c>TooLarge</c> when it exceeds
    /// <see cref="ClaimCheckOptions.MaxPayloadBytes"/> (nothing is kept then).
    /// </summary>
    public static async Task<(byte[]? Inline, ClaimCheckReference? Reference, bool TooLarge)> ReadAsync(HttpRequest request, ClaimCheckService claims)
    {
        var max = claims.Options.MaxPayloadBytes;
        if (request.ContentLength > max)
        {
            return (null, null, true);
        }

        var cancellationToken = request.HttpContext.RequestAborted;
        var prefix = new byte[claims.Options.ThresholdBytes + 1];
        var filled = 0;
        int read;
        while (filled < prefix.Length && (read = await request.Body.ReadAsync(prefix.AsMemory(filled), cancellationToken).ConfigureAwait(false)) > 0)
        {
            filled += read;
        }

        if (filled <= claims.Options.ThresholdBytes)
        {
            return (prefix[..filled], null, false);
        }

        try
        {
            var body = new PrefixedBody(prefix, request.Body, max);
            return (null, await claims.StoreAsync(body, request.ContentType, cancellationToken).ConfigureAwait(false), false);
        }
        catch (PayloadTooLargeException)
        {
            return (null, null, true);
        }
    }

    private sealed class PayloadTooLargeException() : IOException("The body exceeds Iot:ClaimCheck:MaxPayloadBytes.");

    /// <summary>The bytes already read, then the rest of the body; throws once more than <c>max</c> bytes were read.</summary>
    private sealed class PrefixedBody(byte[] prefix, Stream rest, long max) : Stream
    {
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            int read;
            if (_position < prefix.Length)
            {
                read = Math.Min(buffer.Length, prefix.Length - (int)_position);
                prefix.AsMemory((int)_position, read).CopyTo(buffer);
            }
            else
            {
                read = await rest.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            }

            _position += read;
            if (_position > max)
            {
                throw new PayloadTooLargeException();
            }

            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("The body is read asynchronously.");

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
