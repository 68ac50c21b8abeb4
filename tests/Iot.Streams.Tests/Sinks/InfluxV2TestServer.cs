using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Iot.Streams.Tests.Sinks;

/// <summary>
/// An HTTP server on a free loopback port that answers <c>POST /api/v2/write</c> as the InfluxDB 2 API documents it:
/// 204 when every point is stored; 401 without the right <c>Authorization: Token</c>; 404 for another org or bucket;
/// 413 when the (decompressed) body is over <see cref="MaxBodyBytes"/>, nothing written; 400 with the first malformed
/// line, nothing written; 400 "partial write: field type conflict ... dropped=N" when points give a field another type
/// than it has (the other points are written); and scripted 429/503 answers with <c>Retry-After</c>. Points are
/// stored by series and time, so writing one again overwrites it, as InfluxDB does. No InfluxDB 2 server is
/// installable here (Debian ships 1.x); <see cref="InfluxV2SinkTests"/> runs the same tests against a real one when
/// <c>IOT_INFLUXDB2_URL</c> names one.
/// </summary>
internal sealed class InfluxV2TestServer : IAsyncDisposable
{
    public const string Org = "acme";
    public const string Bucket = "iot/raw";
    private readonly WebApplication _app;
    private readonly object _gate = new();
    private readonly Dictionary<(string Series, long Time), Dictionary<string, string>> _points = [];
    private readonly Dictionary<(string Measurement, string Field), char> _fieldTypes = [];

    private InfluxV2TestServer(WebApplication app) => _app = app;

    public Uri Url { get; private set; } = null!;

    /// <summary>The token the server accepts; tests change it to play an operator fixing a token.</summary>
    public string Token { get; set; } = "test-token";

    /// <summary>Largest body (after gzip) the server takes; larger ones get 413 and nothing is written.</summary>
    public int MaxBodyBytes { get; set; } = int.MaxValue;

    /// <summary>
    /// True (default): a field type conflict drops only the conflicting points and says how many ("partial write ...
    /// dropped=N"). False: it rejects the whole batch, as InfluxDB OSS 2 documents for the first rejected point.
    /// </summary>
    public bool PartialWrites { get; set; } = true;

    /// <summary>Answers given, in order, before the next requests are looked at: status and Retry-After (seconds or null).</summary>
    public ConcurrentQueue<(int Status, string? RetryAfter)> ScriptedFailures { get; } = new();

    /// <summary>Every request seen, in order of arrival.</summary>
    public ConcurrentQueue<SeenRequest> Requests { get; } = new();

    public static async Task<InfluxV2TestServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var server = new InfluxV2TestServer(app);
        app.MapPost("/api/v2/write", server.WriteAsync);
        await app.StartAsync();
        server.Url = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    /// <summary>Points stored for the measurement that have the field.</summary>
    public long Count(string measurement, string field)
    {
        lock (_gate)
        {
            return _points.Count(p => MeasurementOf(p.Key.Series) == measurement && p.Value.ContainsKey(field));
        }
    }

    /// <summary>A point's field as written (line protocol text), or null.</summary>
    public string? Field(string measurement, string tags, long time, string field)
    {
        lock (_gate)
        {
            return _points.TryGetValue((measurement + "," + tags, time), out var fields) && fields.TryGetValue(field, out var value) ? value : null;
        }
    }

    private async Task WriteAsync(HttpContext context)
    {
        var request = context.Request;
        var body = await ReadBodyAsync(request);
        var seen = new SeenRequest(request.Path, request.QueryString.Value ?? "", request.Headers.Authorization.ToString(),
            request.Headers.ContentEncoding.ToString(), body.Text);
        Requests.Enqueue(seen);
        var (status, json, retryAfter) = Answer(request, body);
        context.Response.StatusCode = status;
        if (retryAfter is not null)
        {
            context.Response.Headers.RetryAfter = retryAfter;
        }

        if (json is not null)
        {
            context.Response.ContentType = "application/json; charset=utf-8";
            await context.Response.WriteAsync(json);
        }
    }

    private (int Status, string? Json, string? RetryAfter) Answer(HttpRequest request, (string Text, int Bytes) body)
    {
        if (request.Headers.Authorization.ToString() != "Token " + Token)
        {
            return (401, Error("unauthorized", "unauthorized access"), null);
        }

        if (request.Query["org"] != Org)
        {
            return (404, Error("not found", $"organization name \\\"{request.Query["org"]}\\\" not found"), null);
        }

        if (request.Query["bucket"] != Bucket)
        {
            return (404, Error("not found", $"bucket \\\"{request.Query["bucket"]}\\\" not found"), null);
        }

        if (ScriptedFailures.TryDequeue(out var failure))
        {
            return (failure.Status, Error(failure.Status == 429 ? "too many requests" : "unavailable", "scripted failure"), failure.RetryAfter);
        }

        if (body.Bytes > MaxBodyBytes)
        {
            return (413, Error("request too large", "unable to read data: points batch is too large"), null);
        }

        var multiplier = request.Query["precision"].ToString() switch { "ms" => 1_000_000L, "s" => 1_000_000_000L, "us" => 1000L, _ => 1L };
        var parsed = new List<(string Series, long Time, Dictionary<string, string> Fields)>();
        foreach (var line in body.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!TryParse(line, out var point))
            {
                return (400, Error("invalid", $"unable to parse '{Escape(line)}': bad point"), null);
            }

            parsed.Add((point.Series, point.Time * multiplier, point.Fields));
        }

        var dropped = 0;
        string? conflict = null;
        lock (_gate)
        {
            if (!PartialWrites && parsed.Select(p => Conflict(MeasurementOf(p.Series), p.Fields)).FirstOrDefault(c => c is not null) is { } first)
            {
                return (400, Error("invalid", $"failure writing points to database: field type conflict: {first}"), null);
            }

            foreach (var (series, time, fields) in parsed)
            {
                var measurement = MeasurementOf(series);
                if (Conflict(measurement, fields) is { } clash)
                {
                    dropped++;
                    conflict ??= clash;
                    continue;
                }

                foreach (var (field, value) in fields)
                {
                    _fieldTypes[(measurement, field)] = TypeOf(value);
                }

                if (!_points.TryGetValue((series, time), out var stored))
                {
                    _points[(series, time)] = stored = [];
                }

                foreach (var (field, value) in fields)
                {
                    stored[field] = value;
                }
            }
        }

        return dropped == 0 ? (204, null, null) : (400, Error("invalid", $"partial write: field type conflict: {conflict} dropped={dropped}"), null);
    }

    private string? Conflict(string measurement, Dictionary<string, string> fields)
    {
        var clash = fields.FirstOrDefault(f => _fieldTypes.TryGetValue((measurement, f.Key), out var type) && type != TypeOf(f.Value));
        return clash.Key is null ? null
            : $"input field \\\"{clash.Key}\\\" on measurement \\\"{measurement}\\\" is type {Name(TypeOf(clash.Value))}, already exists as type {Name(_fieldTypes[(measurement, clash.Key)])}";
    }

    private static async Task<(string Text, int Bytes)> ReadBodyAsync(HttpRequest request)
    {
        using var buffer = new MemoryStream();
        if (request.Headers.ContentEncoding.ToString().Contains("gzip", StringComparison.OrdinalIgnoreCase))
        {
            await using var gzip = new GZipStream(request.Body, CompressionMode.Decompress);
            await gzip.CopyToAsync(buffer);
        }
        else
        {
            await request.Body.CopyToAsync(buffer);
        }

        return (Encoding.UTF8.GetString(buffer.ToArray()), (int)buffer.Length);
    }

    /// <summary>Line protocol: series (measurement and tags), fields, optional time; spaces and commas escaped, strings quoted.</summary>
    private static bool TryParse(string line, out (string Series, long Time, Dictionary<string, string> Fields) point)
    {
        point = default;
        var parts = SplitUnescaped(line, ' ');
        if (parts.Count is < 2 or > 3 || parts[0].Length == 0)
        {
            return false;
        }

        var fields = new Dictionary<string, string>();
        foreach (var pair in SplitUnescaped(parts[1], ','))
        {
            var equals = IndexOfUnescaped(pair, '=');
            if (equals <= 0 || equals == pair.Length - 1 || TypeOf(pair[(equals + 1)..]) == '?')
            {
                return false;
            }

            fields[pair[..equals]] = pair[(equals + 1)..];
        }

        long time = 0;
        if (parts.Count == 3 && !long.TryParse(parts[2], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out time))
        {
            return false;
        }

        point = (parts[0], time, fields);
        return fields.Count > 0;
    }

    private static List<string> SplitUnescaped(string text, char separator)
    {
        var parts = new List<string>();
        var start = 0;
        var quoted = false;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\\')
            {
                i++;
            }
            else if (text[i] == '"')
            {
                quoted = !quoted;
            }
            else if (text[i] == separator && !quoted)
            {
                parts.Add(text[start..i]);
                start = i + 1;
            }
        }

        parts.Add(text[start..]);
        return parts;
    }

    private static int IndexOfUnescaped(string text, char c)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\\')
            {
                i++;
            }
            else if (text[i] == c)
            {
                return i;
            }
        }

        return -1;
    }

    private static string MeasurementOf(string series) => SplitUnescaped(series, ',')[0];

    private static char TypeOf(string value) => value switch
    {
        ['"', .., '"'] => 's',
        "t" or "T" or "true" or "True" or "TRUE" or "f" or "F" or "false" or "False" or "FALSE" => 'b',
        [.., 'i'] when long.TryParse(value[..^1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _) => 'i',
        [.., 'u'] when ulong.TryParse(value[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out _) => 'u',
        _ when double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _) => 'f',
        _ => '?',
    };

    private static string Name(char type) => type switch { 's' => "string", 'b' => "boolean", 'i' => "integer", 'u' => "unsigned", _ => "float" };

    private static string Error(string code, string message) => $$"""{"code":"{{code}}","message":"{{message}}"}""";

    private static string Escape(string text) => text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);

    /// <summary>A request as it arrived (body decompressed).</summary>
    public sealed record SeenRequest(string Path, string Query, string Authorization, string ContentEncoding, string Body);
}
