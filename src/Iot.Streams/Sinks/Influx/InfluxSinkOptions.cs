namespace Iot.Streams.Sinks.Influx;

/// <summary>Settings of the InfluxDB sink, bound from <c>Iot:Influx</c> (see docs/configuration.md).</summary>
public sealed class InfluxSinkOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Iot:Influx";

    /// <summary>Whether the sink runs.</summary>
    /// <remarks>Default false.</remarks>
    public bool Enabled { get; set; }

    /// <summary>The InfluxDB base URL, for example <c>http://127.0.0.1:8086</c>.</summary>
    /// <remarks>Required when enabled.</remarks>
    public Uri? Url { get; set; }

    /// <summary>
    /// The API: 1 (<c>/write?db=&amp;rp=&amp;u=&amp;p=</c>, <see cref="InfluxV1Writer"/>) or 2 (InfluxDB.Client's
    /// <c>WriteApiAsync</c>: <c>/api/v2/write?org=&amp;bucket=</c> with a token, <see cref="InfluxV2Writer"/>).
    /// </summary>
    /// <remarks>Default 1.</remarks>
    public int Version { get; set; } = 1;

    /// <summary>InfluxDB 1.x database.</summary>
    /// <remarks>Default <c>iot</c>.</remarks>
    public string Database { get; set; } = "iot";

    /// <summary>InfluxDB 1.x retention policy; null for the database's default.</summary>
    /// <remarks>Default null.</remarks>
    public string? RetentionPolicy { get; set; }

    /// <summary>InfluxDB 1.x user name; null without authentication.</summary>
    /// <remarks>Default null.</remarks>
    public string? Username { get; set; }

    /// <summary>InfluxDB 1.x password.</summary>
    /// <remarks>Default null.</remarks>
    public string? Password { get; set; }

    /// <summary>InfluxDB 2.x organisation.</summary>
    /// <remarks>Required for version 2.</remarks>
    public string? Org { get; set; }

    /// <summary>InfluxDB 2.x bucket.</summary>
    /// <remarks>Required for version 2.</remarks>
    public string? Bucket { get; set; }

    /// <summary>InfluxDB 2.x API token (sent as <c>Authorization: Token ...</c>).</summary>
    /// <remarks>Required for version 2.</remarks>
    public string? Token { get; set; }

    /// <summary>The streams captured; each becomes the measurement of the same name, read as the consumer group <c>influx</c>.</summary>
    /// <remarks>Default <c>telemetry</c>.</remarks>
    public List<string> Streams { get; set; } = [];

    /// <summary>Most points per write.</summary>
    /// <remarks>Default 5000; range 1-100 000.</remarks>
    public int BatchSize { get; set; } = 5000;

    /// <summary>A partial batch is written once its first record waited this long.</summary>
    /// <remarks>Default 1 second; range 1 ms - 1 minute.</remarks>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Whether request bodies are gzip-compressed.</summary>
    /// <remarks>Default true.</remarks>
    public bool Gzip { get; set; } = true;

    /// <summary>
    /// First retry delay after a failed write; doubles up to <see cref="MaxRetryDelay"/>. A server's <c>Retry-After</c>
    /// (429, 503) is used instead, kept between this and <see cref="MaxRetryDelay"/>.
    /// </summary>
    /// <remarks>Default 1 second; at least 1 ms.</remarks>
    public TimeSpan MinRetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest retry delay. Writes are retried until they succeed: an outage delays data, it loses none.</summary>
    /// <remarks>Default 30 seconds; at least <see cref="MinRetryDelay"/>.</remarks>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Timeout of one write request.</summary>
    /// <remarks>Default 10 seconds; range 100 ms - 5 minutes.</remarks>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Problems, each naming the setting.</summary>
    internal IEnumerable<string> Validate()
    {
        if (!Enabled)
        {
            yield break;
        }

        if (Url is null || !Url.IsAbsoluteUri || (Url.Scheme != Uri.UriSchemeHttp && Url.Scheme != Uri.UriSchemeHttps))
        {
            yield return "Iot:Influx:Url must be an absolute http(s) URL.";
        }

        if (Version is not (1 or 2))
        {
            yield return "Iot:Influx:Version must be 1 or 2.";
        }

        if (Version == 1 && string.IsNullOrWhiteSpace(Database))
        {
            yield return "Iot:Influx:Database is required for InfluxDB 1.x.";
        }

        if (Version == 2 && (string.IsNullOrWhiteSpace(Org) || string.IsNullOrWhiteSpace(Bucket) || string.IsNullOrWhiteSpace(Token)))
        {
            yield return "Iot:Influx:Org, Iot:Influx:Bucket and Iot:Influx:Token are required for InfluxDB 2.x.";
        }

        if (BatchSize is < 1 or > 100_000)
        {
            yield return "Iot:Influx:BatchSize must be between 1 and 100000.";
        }

        if (FlushInterval < TimeSpan.FromMilliseconds(1) || FlushInterval > TimeSpan.FromMinutes(1))
        {
            yield return "Iot:Influx:FlushInterval must be between 1 ms and 1 minute.";
        }

        if (MinRetryDelay < TimeSpan.FromMilliseconds(1) || MaxRetryDelay < MinRetryDelay)
        {
            yield return "Iot:Influx:MinRetryDelay must be at least 1 ms and Iot:Influx:MaxRetryDelay at least MinRetryDelay.";
        }

        if (RequestTimeout < TimeSpan.FromMilliseconds(100) || RequestTimeout > TimeSpan.FromMinutes(5))
        {
            yield return "Iot:Influx:RequestTimeout must be between 100 ms and 5 minutes.";
        }
    }
}
