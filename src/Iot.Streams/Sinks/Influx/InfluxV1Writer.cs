using System.IO.Compression;
using System.Net.Http.Headers;
using System.Text;

namespace Iot.Streams.Sinks.Influx;

/// <summary>
/// Writes line protocol to InfluxDB 1.x (<c>/write?db=&amp;rp=&amp;u=&amp;p=</c>) over one <see cref="HttpClient"/>. Written by
/// hand: InfluxDB.Client speaks only <c>/api/v2/write</c>, which InfluxDB 1.x has from 1.8 on, and Debian's influxd
/// (the one the tests run) is 1.6.
/// </summary>
internal sealed class InfluxV1Writer(HttpClient client, InfluxSinkOptions options, TimeProvider timeProvider) : IInfluxWriter
{
    /// <summary>The named <see cref="HttpClient"/> of both writers.</summary>
    public const string ClientName = "Iot.Streams.Influx";

    // Built on first use: a disabled sink has no URL, and its writer must still be constructible.
    private Uri? _writeUri;

    public async Task<WriteResult> WriteAsync(IReadOnlyList<string> lines, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, _writeUri ??= BuildUri(options)) { Content = Body(lines) };

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.RequestTimeout);
        try
        {
            using var response = await client.SendAsync(request, timeout.Token).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
            {
                return WriteResult.Accepted;
            }

            var detail = await response.Content.ReadAsStringAsync(timeout.Token).ConfigureAwait(false);
            var retryAfter = response.Headers.RetryAfter is { } header
                ? header.Delta ?? (header.Date is { } date ? Max(date - timeProvider.GetUtcNow(), TimeSpan.Zero) : null)
                : null;
            return WriteResult.FromStatus((int)response.StatusCode, detail, retryAfter);
        }
        catch (HttpRequestException ex)
        {
            return new WriteResult(WriteOutcome.Retry, ex.Message);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new WriteResult(WriteOutcome.Retry, "timeout");
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private ByteArrayContent Body(IReadOnlyList<string> lines)
    {
        var text = new StringBuilder();
        foreach (var line in lines)
        {
            text.Append(line).Append('\n');
        }

        var bytes = Encoding.UTF8.GetBytes(text.ToString());
        if (!options.Gzip)
        {
            return new ByteArrayContent(bytes) { Headers = { ContentType = new MediaTypeHeaderValue("text/plain") { CharSet = "utf-8" } } };
        }

        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(bytes);
        }

        var content = new ByteArrayContent(buffer.ToArray());
        content.Headers.ContentType = new MediaTypeHeaderValue("text/plain") { CharSet = "utf-8" };
        content.Headers.ContentEncoding.Add("gzip");
        return content;
    }

    private static Uri BuildUri(InfluxSinkOptions options)
    {
        var query = new StringBuilder();
        void Add(string name, string? value)
        {
            if (!string.IsNullOrEmpty(value))
            {
                query.Append(query.Length == 0 ? '?' : '&').Append(name).Append('=').Append(Uri.EscapeDataString(value));
            }
        }

        Add("db", options.Database);
        Add("rp", options.RetentionPolicy);
        Add("u", options.Username);
        Add("p", options.Password);
        Add("precision", "ms");
        var baseUri = options.Url!.AbsoluteUri.EndsWith('/') ? options.Url : new Uri(options.Url.AbsoluteUri + "/");
        return new Uri(baseUri, "write" + query);
    }
}
