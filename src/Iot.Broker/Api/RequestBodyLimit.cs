using Iot.Broker.Hosting;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Api;

/// <summary>
/// Refuses a request body over <c>Iot:Http:MaxRequestBodyBytes</c> with a 413 the client can read. Kestrel alone
/// refuses such a body by closing the connection with the rest of the body unread, and a close with unread data makes
/// the kernel send a TCP reset, which discards the 413 already in the client's receive buffer: a client still writing
/// its body saw "connection reset" instead of the answer. Here the refusal comes first (a declared length over the
/// limit is refused before anything is read; a chunked body at the limit) and the rest of the body, up to
/// <c>Iot:Http:RequestBodyDrainBytes</c>, is left for Kestrel to read and drop after the answer, which it does when a
/// request ends with its body unread (for at most 5 s). The connection stays open for the client's next request.
/// </summary>
internal sealed class RequestBodyLimit(RequestDelegate next, IOptions<HttpOptions> options)
{
    private readonly long _max = options.Value.MaxRequestBodyBytes;
    private readonly long _drain = options.Value.RequestBodyDrainBytes;

    public Task InvokeAsync(HttpContext context)
    {
        var feature = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (feature is not { IsReadOnly: false, MaxRequestBodySize: not null })
        {
            return next(context);
        }

        var request = context.Request;
        if (request.ContentLength is { } length)
        {
            if (length <= _max)
            {
                return next(context);
            }

            if (length - _max <= _drain)
            {
                feature.MaxRequestBodySize = length;
            }

            // Answered by ApiErrors' handler, as Kestrel's own refusal is: problem details, counted, logged at Debug.
            throw TooLarge();
        }

        if (request.Headers.TransferEncoding.Count > 0)
        {
            // Chunked: the length is known only as the body is read. Kestrel's limit, raised by the drain allowance,
            // stays the backstop; this stream refuses at the configured limit.
            feature.MaxRequestBodySize = _max + _drain;
            request.Body = new LimitedBody(request.Body, _max);
        }

        return next(context);
    }

    private static BadHttpRequestException TooLarge() => new("The request body is too large.", StatusCodes.Status413PayloadTooLarge);

    /// <summary>A request body that throws the 413 once more than its limit was read.</summary>
    private sealed class LimitedBody(Stream inner, long max) : Stream
    {
        private long _read;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

        public override int Read(Span<byte> buffer) => Count(inner.Read(buffer));

        public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Count(await inner.ReadAsync(buffer.AsMemory(offset, count), cancellationToken).ConfigureAwait(false));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Count(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private int Count(int read)
        {
            _read += read;
            return _read > max ? throw TooLarge() : read;
        }
    }
}
