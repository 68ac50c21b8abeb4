using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace Iot.Streams.Sinks.Influx;

/// <summary>How InfluxDB answered a write.</summary>
internal enum WriteOutcome
{
    /// <summary>2xx: the points are stored.</summary>
    Accepted,

    /// <summary>400 or 422: bad data (for example a field type conflict); retrying cannot help, the batch is skipped.</summary>
    Rejected,

    /// <summary>Anything else (5xx, 401/403/404, network errors, timeouts): retry later.</summary>
    Retry,
}

/// <summary>Writes line protocol to InfluxDB 1.x (<c>/write</c>) or 2.x (<c>/api/v2/write</c>) over one <see cref="HttpClient"/>.</summary>
internal sealed class InfluxWriter(HttpClient client, InfluxSinkOptions options)
{
    /// <summary>The named <see cref="HttpClient"/>.</summary>
    public const string ClientName = "Iot.Streams.Influx";

    // Built on first use: a disabled sink has no URL, and its writer must still be constructible.
    private Uri? _writeUri;

    public async Task<(WriteOutcome Outcome, string Detail)> WriteAsync(string lines, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, _writeUri ??= BuildUri(options)) { Content = Body(lines) };
        if (options.Version == 2)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Token", options.Token);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.RequestTimeout);
        try
        {
            using var response = await client.SendAsync(request, timeout.Token).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
            {
                return (WriteOutcome.Accepted, "");
            }

            var detail = await response.Content.ReadAsStringAsync(timeout.Token).ConfigureAwait(false);
            var outcome = response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.UnprocessableEntity ? WriteOutcome.Rejected : WriteOutcome.Retry;
            return (outcome, $"{(int)response.StatusCode} {Truncate(detail)}");
        }
        catch (HttpRequestException ex)
        {
            return (WriteOutcome.Retry, ex.Message);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (WriteOutcome.Retry, "timeout");
        }
    }

    private ByteArrayContent Body(string lines)
    {
        var bytes = Encoding.UTF8.GetBytes(lines);
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

        string path;
        if (options.Version == 2)
        {
            path = "api/v2/write";
            Add("org", options.Org);
            Add("bucket", options.Bucket);
        }
        else
        {
            path = "write";
            Add("db", options.Database);
            Add("rp", options.RetentionPolicy);
            Add("u", options.Username);
            Add("p", options.Password);
        }

        Add("precision", "ms");
        var baseUri = options.Url!.AbsoluteUri.EndsWith('/') ? options.Url : new Uri(options.Url.AbsoluteUri + "/");
        return new Uri(baseUri, path + query);
    }

    private static string Truncate(string text) => text.Length <= 500 ? text.Trim() : text[..500];
}
