using System.ComponentModel;
using Iot.Messaging.Http;
using System.Text.Json;
using Iot.Streams.Aggregation;
using Iot.Streams.Internal;
using Iot.Streams.Log;
using Iot.Streams.Sinks.Influx;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;

namespace Iot.Streams.Hosting;

/// <summary>Maps the streams HTTP API (see docs/api.md).</summary>
public static partial class StreamsEndpointRouteBuilderExtensions
{
    private const int MaxReadRecords = 1000;

    private const string MaxDescription = "The most records to read, 1 to 1000 (100 by default).";

    private const string WaitDescription = "Seconds to wait for a record when there is none yet, 0 to 60 (0 by default).";

    /// <summary>
    /// Maps <c>/streams</c> relative to <paramref name="api"/> (typically the authenticated <c>/api</c> group): create
    /// and list streams, read a partition from an offset, a time, the start or the end, manage consumer groups and
    /// their committed offsets, and follow aggregates as Server-Sent Events.
    /// </summary>
    public static IEndpointRouteBuilder MapStreamsApi(this IEndpointRouteBuilder api)
    {
        ArgumentNullException.ThrowIfNull(api);
        var group = api.MapGroup("/streams").WithTags("Streams");
        group.MapGet("/", (IStreamStore store) => Json(store.Streams.Select(d => Describe(store, d))))
            .WithName("ListStreams").WithSummary("Lists the streams with their partitions' offsets.")
            .Produces<List<StreamResponse>>();
        group.MapPut("/{name}", CreateStreamAsync)
            .WithName("PutStream")
            .WithSummary("Creates a stream (partitions 1-256, 4 by default; retention at least 00:01:00, 7 days by default; retentionBytes at least 8192): "
                + "201, or 200 when it exists with the same definition, 409 with another.")
            .WithMetadata(new RequestBodyDescription(typeof(CreateStreamRequest), true, ["application/json"]))
            .Produces<StreamResponse>(StatusCodes.Status201Created)
            .Produces<StreamResponse>(StatusCodes.Status200OK)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
        group.MapGet("/{name}", (string name, IStreamStore store) =>
            store.Find(name) is { } definition ? Json(Describe(store, definition)) : NotFound("Stream", name))
            .WithName("GetStream").WithSummary("Gets a stream with its partitions' offsets.")
            .Produces<StreamResponse>()
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("/{name}/partitions/{partition:int}/records", ReadPartitionAsync)
            .WithName("ReadStreamPartition")
            .WithSummary("Reads up to max records (1-1000, 100 by default) of a partition from offset, from the first at or after time, or from "
                + "the start or the end; waits up to wait seconds (0-60) when there is none yet.")
            .Produces<StreamReadResponse>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("/{name}/aggregates", FollowAggregatesAsync)
            .WithName("FollowStreamAggregates")
            .WithSummary("Server-Sent Events: one 'aggregate' event (JSON in data) per window result of the stream, filtered by window and key; "
                + "latest=true sends the latest result of every window and key first.")
            .Produces<AggregateResult>(StatusCodes.Status200OK, "text/event-stream")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("/{name}/aggregates/history", ReadAggregateHistoryAsync)
            .WithName("GetStreamAggregateHistory")
            .WithSummary("The results of one window that end after since (1 hour ago by default), oldest first, recomputed from the stream's records; "
                + "at most max (the newest kept), truncated=true when some were left out.")
            .Produces<AggregateHistoryResponse>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("/{name}/aggregations", (string name, IStreamStore store, IServiceProvider services) =>
            store.Find(name) is null ? NotFound("Stream", name)
            : Json(services.GetService<AggregationService>()?.Status(name) ?? []))
            .WithName("GetStreamAggregations").WithSummary("The state of every window and partition of the stream's aggregations running on this node.")
            .Produces<List<AggregationStatus>>()
            .ProducesProblem(StatusCodes.Status404NotFound);
        api.MapGet("/sinks/influx", (IServiceProvider services) => services.GetService<InfluxSinkService>() is { } sink
            ? Json(new InfluxSinkResponse(sink.PointsWritten, sink.PointsRejected, sink.FailedWrites, sink.RecordsSkipped,
                sink.Lag.RecordsBehind, sink.Lag.WaitingFor.TotalSeconds, sink.Lag.LastWriteAt))
            : Problem(StatusCodes.Status404NotFound, "Sink not configured", "The InfluxDB sink is not registered (AddInfluxSink).")).WithTags("Streams")
            .WithName("GetInfluxSink").WithSummary("The InfluxDB sink's counters and lag; 404 when the sink is not configured.")
            .Produces<InfluxSinkResponse>()
            .ProducesProblem(StatusCodes.Status404NotFound);
        MapGroups(group);
        return api;
    }

    private static StreamResponse Describe(IStreamStore store, StreamDefinition definition) => new(
        definition.Name,
        definition.Partitions,
        definition.RetentionAge,
        definition.RetentionBytes,
        Enumerable.Range(0, definition.Partitions).Select(p =>
        {
            var log = store.GetPartition(definition.Name, p);
            return new PartitionOffsetsResponse(p, log.StartOffset, log.NextOffset);
        }));

    private static async Task<IResult> CreateStreamAsync(string name, HttpRequest request, IStreamStore store, CancellationToken cancellationToken)
    {
        if (request.ContentLength is not 0 && !request.HasJsonContentType())
        {
            return NotJson(request);
        }

        CreateStreamRequest? body;
        try
        {
            body = request.ContentLength is 0 ? new CreateStreamRequest() : await request.ReadFromJsonAsync<CreateStreamRequest>(StreamsJson.Options, cancellationToken);
        }
        catch (JsonException ex)
        {
            return Problem(StatusCodes.Status400BadRequest, "Invalid JSON", ex.Message);
        }

        body ??= new CreateStreamRequest();
        var definition = new StreamDefinition
        {
            Name = name,
            Partitions = body.Partitions ?? 4,
            RetentionAge = body.Retention ?? TimeSpan.FromDays(7),
            RetentionBytes = body.RetentionBytes,
        };
        if (!StreamDefinition.IsValidName(name))
        {
            return Problem(StatusCodes.Status400BadRequest, "Invalid stream", StreamDefinition.Validate(name)!);
        }

        if (definition.Partitions is < 1 or > 256 || definition.RetentionAge < TimeSpan.FromMinutes(1) || definition.RetentionBytes is < 8192)
        {
            return Problem(StatusCodes.Status400BadRequest, "Invalid stream",
                "partitions must be 1-256, retention at least 00:01:00 and retentionBytes at least 8192.");
        }

        var (created, existing) = await store.TryCreateAsync(definition, cancellationToken);
        if (created)
        {
            return Results.Json(Describe(store, definition), StreamsJson.Options, statusCode: StatusCodes.Status201Created);
        }

        return existing.Partitions == definition.Partitions && existing.RetentionAge == definition.RetentionAge
            && existing.RetentionBytes == definition.RetentionBytes
            ? Json(Describe(store, existing))
            : Problem(StatusCodes.Status409Conflict, "Stream exists", $"Stream '{name}' exists with another definition; partitions cannot change.");
    }

    private static async Task<IResult> ReadPartitionAsync(string name, int partition, IStreamStore store,
        [Description("The first offset to read (0 or more).")] long? offset,
        [Description("Without offset: read from the first record appended at or after this time (ISO 8601).")] DateTimeOffset? time,
        [Description("Without offset and time: start (default, the oldest record kept) or end (only records appended from now).")] string? from,
        [Description(MaxDescription)] int? max,
        [Description(WaitDescription)] double? wait,
        CancellationToken cancellationToken)
    {
        if (ResolvePartition(store, name, partition, out var log) is { } error)
        {
            return error;
        }

        long start;
        if (offset is { } o)
        {
            start = o;
        }
        else if (time is { } t)
        {
            start = await log.FindOffsetAsync(t, cancellationToken);
        }
        else if (from is null or "start")
        {
            start = log.StartOffset;
        }
        else if (from == "end")
        {
            start = log.NextOffset;
        }
        else
        {
            return Problem(StatusCodes.Status400BadRequest, "Invalid position", "from must be 'start' or 'end' (or give offset or time).");
        }

        return await ReadAsync(log, start, max, wait, cancellationToken);
    }

    private static async Task<IResult> ReadAsync(IStreamLog log, long start, int? max, double? wait, CancellationToken cancellationToken)
    {
        if (start < 0 || max is < 1 or > MaxReadRecords || wait is < 0 or > 60)
        {
            return Problem(StatusCodes.Status400BadRequest, "Invalid read", $"offset must be >= 0, max 1-{MaxReadRecords}, wait 0-60 seconds.");
        }

        var records = await log.ReadAsync(start, max ?? 100, cancellationToken);
        if (records.Count == 0 && wait is > 0)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(wait.Value));
            try
            {
                await log.WaitForRecordsAsync(Math.Max(start, log.StartOffset), timeout.Token);
                records = await log.ReadAsync(start, max ?? 100, cancellationToken);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // The wait ended without records: an empty answer.
            }
        }

        var next = records.Count > 0 ? records[^1].Offset + 1 : Math.Max(start, log.StartOffset);
        return Json(new StreamReadResponse(records.Select(ToJson), next, log.StartOffset, log.NextOffset));
    }

    private static StreamRecordResponse ToJson(StreamRecord record)
    {
        JsonElement? payload = null;
        try
        {
            using var document = JsonDocument.Parse(record.Payload);
            payload = document.RootElement.Clone();
        }
        catch (JsonException)
        {
            // Not JSON: served as base64.
        }

        return new StreamRecordResponse(
            record.Offset,
            record.Timestamp,
            record.Key,
            record.Topic,
            payload,
            payload is null ? Convert.ToBase64String(record.Payload.Span) : null);
    }

    /// <summary>
    /// Server-Sent Events: one <c>aggregate</c> event per result (JSON in <c>data</c>). The headers are flushed at once
    /// so a client knows it is subscribed before the first result; a reader that falls behind loses its oldest results.
    /// With <c>latest=true</c> the latest result of every matching window and key is sent first (a dashboard shows values
    /// at once); a result that closes during that replay may then come twice.
    /// </summary>
    private static async Task FollowAggregatesAsync(HttpContext context, string name, IStreamStore store, AggregateHub hub,
        [Description("Only this window's results (its name in the stream's aggregation settings).")] string? window,
        [Description("Only this key's results (by default the device id).")] string? key,
        [Description("true: first the latest result of every matching window and key.")] bool? latest)
    {
        if (store.Find(name) is null)
        {
            await NotFound("Stream", name).ExecuteAsync(context);
            return;
        }

        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        await response.Body.FlushAsync(context.RequestAborted);
        Func<AggregateResult, bool> filter = r => r.Stream == name && (window is null || r.Window == window) && (key is null || r.Key == key);
        using var feed = hub.OpenFeed(filter);
        try
        {
            if (latest == true)
            {
                foreach (var result in hub.Latest(filter))
                {
                    await WriteAggregateAsync(response, result, context.RequestAborted);
                }

                await response.Body.FlushAsync(context.RequestAborted);
            }

            while (await feed.Results.WaitToReadAsync(context.RequestAborted))
            {
                while (feed.Results.TryRead(out var result))
                {
                    await WriteAggregateAsync(response, result, context.RequestAborted);
                }

                await response.Body.FlushAsync(context.RequestAborted);
            }
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away.
        }
    }

    private static async Task<IResult> ReadAggregateHistoryAsync(string name, IStreamStore store, AggregateHistory history,
        IOptions<StreamsOptions> options, TimeProvider time,
        [Description("The window's name in the stream's aggregation settings (required).")] string? window,
        [Description("Only this key's results (by default the device id).")] string? key,
        [Description("Results of windows that end after this time (ISO 8601); 1 hour ago by default.")] DateTimeOffset? since,
        [Description("The most results, the newest kept: 1 to Iot:Streams:HistoryMaxResults (10 000 by default, or that setting when smaller).")] int? max,
        CancellationToken cancellationToken)
    {
        if (store.Find(name) is null)
        {
            return NotFound("Stream", name);
        }

        var windows = options.Value.Windows.Where(w => w.Stream == name).ToList();
        if (string.IsNullOrEmpty(window))
        {
            return Problem(StatusCodes.Status400BadRequest, "Invalid history request",
                $"window is required: one of the windows over '{name}' ({Names(windows)}).");
        }

        if (windows.Find(w => w.Name == window) is not { } definition)
        {
            return Problem(StatusCodes.Status404NotFound, "Window not found",
                $"There is no window named '{window}' over stream '{name}' (windows: {Names(windows)}).");
        }

        var limit = options.Value.HistoryMaxResults;
        if (max is { } m && (m < 1 || m > limit))
        {
            return Problem(StatusCodes.Status400BadRequest, "Invalid history request", $"max must be between 1 and {limit} (Iot:Streams:HistoryMaxResults).");
        }

        var from = since ?? time.GetUtcNow() - TimeSpan.FromHours(1);
        return Json(await history.ReadAsync(definition, key, from, max ?? Math.Min(10_000, limit), cancellationToken));

        static string Names(List<WindowDefinition> windows) => windows.Count == 0 ? "none configured" : string.Join(", ", windows.Select(w => w.Name));
    }

    private static async Task WriteAggregateAsync(HttpResponse response, AggregateResult result, CancellationToken cancellationToken)
    {
        await response.WriteAsync("event: aggregate\ndata: ", cancellationToken);
        await response.WriteAsync(JsonSerializer.Serialize(result, StreamsJson.Options), cancellationToken);
        await response.WriteAsync("\n\n", cancellationToken);
    }

    private static IResult? ResolvePartition(IStreamStore store, string name, int partition, out IStreamLog log)
    {
        log = null!;
        if (store.Find(name) is not { } definition)
        {
            return NotFound("Stream", name);
        }

        if (partition < 0 || partition >= definition.Partitions)
        {
            return Problem(StatusCodes.Status404NotFound, "Partition not found", $"Stream '{name}' has partitions 0 to {definition.Partitions - 1}.");
        }

        log = store.GetPartition(name, partition);
        return null;
    }

    private static IResult Json(object value, int statusCode = StatusCodes.Status200OK) =>
        Results.Json(value, StreamsJson.Options, statusCode: statusCode);

    private static IResult NotJson(HttpRequest request) => Problem(StatusCodes.Status415UnsupportedMediaType, "Unsupported media type",
        $"The body must be JSON (Content-Type: application/json), not '{request.ContentType}'.");

    private static IResult Problem(int statusCode, string title, string detail) =>
        Results.Problem(detail: detail, statusCode: statusCode, title: title);

    private static IResult NotFound(string what, string name) =>
        Problem(StatusCodes.Status404NotFound, $"{what} not found", $"There is no {what.ToLowerInvariant()} named '{name}'.");

    private sealed class CreateStreamRequest
    {
        public int? Partitions { get; set; }

        public TimeSpan? Retention { get; set; }

        public long? RetentionBytes { get; set; }
    }
}
