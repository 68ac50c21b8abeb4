using System.Text;
using InfluxDB.Client;
using InfluxDB.Client.Api.Domain;

namespace Iot.Streams.Tests.Sinks;

/// <summary>Where an InfluxDB 2 test writes: <see cref="InfluxV2TestServer"/>, or a real InfluxDB 2 named by the environment.</summary>
internal interface IInfluxV2Target : IAsyncDisposable
{
    Uri Url { get; }

    string Org { get; }

    string Bucket { get; }

    string Token { get; }

    /// <summary>The test server, or null for a real InfluxDB 2.</summary>
    InfluxV2TestServer? Server { get; }

    /// <summary>Points of the measurement that have the field.</summary>
    Task<long> CountAsync(string measurement, string field);

    /// <summary>Writes one line of line protocol (millisecond time) directly, not through the sink.</summary>
    Task WriteLineAsync(string line);
}

internal static class InfluxV2Targets
{
    /// <summary>The test server always; also a real InfluxDB 2 when <c>IOT_INFLUXDB2_URL</c> names one.</summary>
    public static TheoryData<string> Names
    {
        get
        {
            var names = new TheoryData<string> { "test-server" };
            if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("IOT_INFLUXDB2_URL")))
            {
                names.Add("real");
            }

            return names;
        }
    }

    public static async Task<IInfluxV2Target> StartAsync(string name) => name switch
    {
        "test-server" => new TestServerTarget(await InfluxV2TestServer.StartAsync()),
        "real" => RealTarget.FromEnvironment(),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "test-server or real"),
    };

    private sealed class TestServerTarget(InfluxV2TestServer server) : IInfluxV2Target
    {
        private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

        public Uri Url => server.Url;

        public string Org => InfluxV2TestServer.Org;

        public string Bucket => InfluxV2TestServer.Bucket;

        public string Token => server.Token;

        public InfluxV2TestServer? Server => server;

        public Task<long> CountAsync(string measurement, string field) => Task.FromResult(server.Count(measurement, field));

        public async Task WriteLineAsync(string line)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post,
                new Uri(Url, $"api/v2/write?org={Uri.EscapeDataString(Org)}&bucket={Uri.EscapeDataString(Bucket)}&precision=ms"))
            {
                Content = new StringContent(line, Encoding.UTF8, "text/plain"),
            };
            request.Headers.TryAddWithoutValidation("Authorization", "Token " + server.Token);
            using var response = await _http.SendAsync(request);
            response.EnsureSuccessStatusCode();
        }

        public async ValueTask DisposeAsync()
        {
            _http.Dispose();
            await server.DisposeAsync();
        }
    }

    /// <summary>
    /// A real InfluxDB 2: <c>IOT_INFLUXDB2_URL</c>, <c>IOT_INFLUXDB2_TOKEN</c> (a token that may write and read the
    /// bucket), <c>IOT_INFLUXDB2_ORG</c>, <c>IOT_INFLUXDB2_BUCKET</c>. Each test writes its own measurement.
    /// </summary>
    private sealed class RealTarget(Uri url, string token, string org, string bucket) : IInfluxV2Target
    {
        private readonly InfluxDBClient _client = new(url.AbsoluteUri, token);

        public Uri Url => url;

        public string Org => org;

        public string Bucket => bucket;

        public string Token => token;

        public InfluxV2TestServer? Server => null;

        public static RealTarget FromEnvironment()
        {
            static string Required(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value
                ? value
                : throw new InvalidOperationException($"IOT_INFLUXDB2_URL is set, so {name} must be too (IOT_INFLUXDB2_TOKEN, _ORG, _BUCKET).");
            return new RealTarget(new Uri(Required("IOT_INFLUXDB2_URL")), Required("IOT_INFLUXDB2_TOKEN"), Required("IOT_INFLUXDB2_ORG"), Required("IOT_INFLUXDB2_BUCKET"));
        }

        public async Task<long> CountAsync(string measurement, string field)
        {
            var flux = $"from(bucket: \"{bucket}\") |> range(start: 0) |> filter(fn: (r) => r._measurement == \"{measurement}\" and r._field == \"{field}\") |> group() |> count()";
            var tables = await _client.GetQueryApi().QueryAsync(flux, org);
            return tables.SelectMany(t => t.Records).Sum(r => Convert.ToInt64(r.GetValue(), System.Globalization.CultureInfo.InvariantCulture));
        }

        public Task WriteLineAsync(string line) => _client.GetWriteApiAsync().WriteRecordAsync(line, WritePrecision.Ms, bucket, org);

        public ValueTask DisposeAsync()
        {
            _client.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
