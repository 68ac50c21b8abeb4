using System.Collections.Concurrent;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Iot.TestUtilities;

/// <summary>
/// An OTLP/HTTP metrics receiver for tests: Kestrel on a free port answers <c>POST /v1/metrics</c> (protobuf), and keeps,
/// per instrumentation scope (meter), the names of the metrics it was sent. The request is read with Google.Protobuf's
/// wire-format reader along the fields of <c>ExportMetricsServiceRequest</c> that carry them
/// (<c>resource_metrics</c> 1, <c>scope_metrics</c> 2, <c>scope</c> 1, <c>scope.name</c> 1, <c>metrics</c> 2, <c>metric.name</c> 1).
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;

    private OtlpReceiver(WebApplication app) => _app = app;

    /// <summary>The base address to give an exporter (<c>/v1/metrics</c> is the path it posts to).</summary>
    public Uri Endpoint { get; private set; } = null!;

    /// <summary>Metric names received, with the scope (meter) name, e.g. <c>Iot.Mqtt/iot_mqtt_connections</c>.</summary>
    public ConcurrentDictionary<string, byte> Metrics { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Spans received (<c>POST /v1/traces</c>, <c>ExportTraceServiceRequest</c>: <c>resource_spans</c> 1, <c>scope_spans</c> 2,
    /// <c>spans</c> 2; a span's <c>trace_id</c> 1, <c>span_id</c> 2, <c>parent_span_id</c> 4, <c>name</c> 5), in arrival order.
    /// </summary>
    public ConcurrentQueue<OtlpSpan> Spans { get; } = new();

    /// <summary>Export requests received.</summary>
    public int Requests => Volatile.Read(ref _requests);

    private int _requests;

    /// <summary>Starts the receiver on a free loopback port.</summary>
    public static async Task<OtlpReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var receiver = new OtlpReceiver(app);
        app.MapPost("/v1/metrics", receiver.HandleAsync);
        app.MapPost("/v1/traces", receiver.HandleTracesAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        receiver.Endpoint = new Uri(address);
        return receiver;
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body);
        foreach (var resourceMetrics in Fields(ByteString.CopyFrom(body.ToArray()), 1))
        {
            foreach (var scopeMetrics in Fields(resourceMetrics, 2))
            {
                var scope = Fields(scopeMetrics, 1).Select(s => Fields(s, 1).Select(n => n.ToStringUtf8()).FirstOrDefault()).FirstOrDefault() ?? "";
                foreach (var metric in Fields(scopeMetrics, 2))
                {
                    Metrics.TryAdd($"{scope}/{Fields(metric, 1).Single().ToStringUtf8()}", 0);
                }
            }
        }

        Interlocked.Increment(ref _requests);

        // An empty ExportMetricsServiceResponse: full success.
        context.Response.ContentType = "application/x-protobuf";
        context.Response.StatusCode = 200;
    }

    private async Task HandleTracesAsync(HttpContext context)
    {
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body);
        foreach (var resourceSpans in Fields(ByteString.CopyFrom(body.ToArray()), 1))
        {
            foreach (var scopeSpans in Fields(resourceSpans, 2))
            {
                foreach (var span in Fields(scopeSpans, 2))
                {
                    Spans.Enqueue(new OtlpSpan(
                        Convert.ToHexStringLower(Fields(span, 1).Single().Span), Convert.ToHexStringLower(Fields(span, 2).Single().Span),
                        Fields(span, 4).Select(p => Convert.ToHexStringLower(p.Span)).FirstOrDefault(), Fields(span, 5).Single().ToStringUtf8()));
                }
            }
        }

        context.Response.ContentType = "application/x-protobuf";
        context.Response.StatusCode = 200;
    }

    /// <summary>The length-delimited fields numbered <paramref name="number"/> of a message; other fields are skipped.</summary>
    private static List<ByteString> Fields(ByteString message, int number)
    {
        var found = new List<ByteString>();
        var input = new CodedInputStream(message.ToByteArray());
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            if (WireFormat.GetTagFieldNumber(tag) == number && WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited)
            {
                found.Add(input.ReadBytes());
            }
            else
            {
                input.SkipLastField();
            }
        }

        return found;
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>A span an <see cref="OtlpReceiver"/> got: ids in lowercase hex (no parent: null or empty).</summary>
public sealed record OtlpSpan(string TraceId, string SpanId, string? ParentSpanId, string Name);
