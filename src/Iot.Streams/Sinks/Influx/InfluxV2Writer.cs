using InfluxDB.Client;
using InfluxDB.Client.Api.Domain;
using InfluxDB.Client.Core.Exceptions;

namespace Iot.Streams.Sinks.Influx;

/// <summary>
/// Writes line protocol to InfluxDB 2.x through InfluxDB.Client's <see cref="WriteApiAsync"/> (<c>POST /api/v2/write</c>,
/// <c>Authorization: Token</c>, gzip when <see cref="InfluxSinkOptions.Gzip"/>). The awaitable API, not the batching
/// <c>WriteApi</c>: the sink commits a partition's offset only after InfluxDB acknowledged exactly the points below it,
/// and <c>WriteApi</c> batches across partitions on its own timer, reports outcomes as events after the fact, gives up
/// after <c>MaxRetries</c> and drops its oldest points past <c>BufferLimit</c> (docs/architecture.md, "InfluxDB sink").
/// The sink batches and retries itself, with the client's rule: 429 and 5xx and network errors are retried after the
/// server's <c>Retry-After</c> or an exponential back-off.
/// </summary>
internal sealed class InfluxV2Writer : IInfluxWriter, IDisposable
{
    private readonly InfluxSinkOptions _options;

    // Built on first use (one client for every partition's loop): a disabled sink has no URL, and its writer must
    // still be constructible.
    private readonly Lazy<(InfluxDBClient Client, WriteApiAsync WriteApi)> _client;

    public InfluxV2Writer(HttpClient http, InfluxSinkOptions options)
    {
        _options = options;
        _client = new(() =>
        {
            var client = new InfluxDBClient(new InfluxDBClientOptions(options.Url!.AbsoluteUri)
            {
                Token = options.Token,
                Org = options.Org,
                Bucket = options.Bucket,
                Timeout = options.RequestTimeout,
                HttpClient = http,
            });
            if (options.Gzip)
            {
                client.EnableGzip();
            }

            return (client, client.GetWriteApiAsync());
        });
    }

    public async Task<WriteResult> WriteAsync(IReadOnlyList<string> lines, CancellationToken cancellationToken)
    {
        var writeApi = _client.Value.WriteApi;
        var options = _options;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.RequestTimeout);
        try
        {
            await writeApi.WriteRecordsAsync(lines, WritePrecision.Ms, options.Bucket, options.Org, timeout.Token).ConfigureAwait(false);
            return WriteResult.Accepted;
        }
        catch (HttpException ex) when (ex.Status > 0)
        {
            return WriteResult.FromStatus(ex.Status, ex.Message, ex.RetryAfter is { } seconds ? TimeSpan.FromSeconds(seconds) : null);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is InfluxException or HttpRequestException or OperationCanceledException or IOException or FormatException)
        {
            // Status 0: no answer (connection refused or reset, timeout). FormatException: a Retry-After the client
            // cannot read as seconds. Both are retried, as InfluxDB.Client's own WriteApi retries network errors.
            return new WriteResult(WriteOutcome.Retry, ex.InnerException?.Message ?? ex.Message);
        }
        catch (InfluxException) when (cancellationToken.IsCancellationRequested)
        {
            // The client reports a cancelled request as an answer with status 0: the caller stops, it does not retry.
            throw new OperationCanceledException(cancellationToken);
        }
    }

    public void Dispose()
    {
        if (_client.IsValueCreated)
        {
            _client.Value.Client.Dispose();
        }
    }
}
