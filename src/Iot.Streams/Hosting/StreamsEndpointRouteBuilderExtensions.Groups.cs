using Iot.Streams.Internal;
using Iot.Streams.Log;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Iot.Streams.Hosting;

public static partial class StreamsEndpointRouteBuilderExtensions
{
    private static void MapGroups(RouteGroupBuilder streams)
    {
        streams.MapGet("/{name}/groups", (string name, IStreamStore store) =>
            store.Find(name) is null ? NotFound("Stream", name) : Json(store.GetGroups(name).Groups));
        streams.MapPut("/{name}/groups/{group}", async (string name, string group, IStreamStore store, CancellationToken cancellationToken) =>
        {
            if (store.Find(name) is null)
            {
                return NotFound("Stream", name);
            }

            if (!ConsumerGroupStore.IsValidName(group))
            {
                return Problem(StatusCodes.Status400BadRequest, "Invalid group", StreamDefinition.Validate(group, "group name")!);
            }

            var created = await store.GetGroups(name).CreateAsync(group, cancellationToken);
            return Json(DescribeGroup(store, name, group), created ? StatusCodes.Status201Created : StatusCodes.Status200OK);
        });
        streams.MapGet("/{name}/groups/{group}", (string name, string group, IStreamStore store) =>
            store.Find(name) is null ? NotFound("Stream", name)
            : !store.GetGroups(name).Groups.Contains(group) ? NotFound("Consumer group", group)
            : Json(DescribeGroup(store, name, group)));
        streams.MapDelete("/{name}/groups/{group}", async (string name, string group, IStreamStore store, CancellationToken cancellationToken) =>
            store.Find(name) is null ? NotFound("Stream", name)
            : await store.GetGroups(name).DeleteAsync(group, cancellationToken) ? Results.NoContent()
            : NotFound("Consumer group", group));
        streams.MapPut("/{name}/groups/{group}/partitions/{partition:int}/offset", CommitAsync);
        streams.MapGet("/{name}/groups/{group}/partitions/{partition:int}/records", ReadGroupAsync);
    }

    private static object DescribeGroup(IStreamStore store, string name, string group)
    {
        var definition = store.Find(name)!;
        var groups = store.GetGroups(name);
        return new
        {
            Stream = name,
            Group = group,
            Partitions = Enumerable.Range(0, definition.Partitions).Select(p =>
            {
                var log = store.GetPartition(name, p);
                var committed = groups.GetCommitted(group, p);
                return new
                {
                    Partition = p,
                    CommittedOffset = committed?.Offset,
                    committed?.Metadata,
                    EndOffset = log.NextOffset,
                    Lag = log.NextOffset - Math.Max(committed?.Offset ?? log.StartOffset, log.StartOffset),
                };
            }),
        };
    }

    private static async Task<IResult> CommitAsync(string name, string group, int partition, HttpRequest request, IStreamStore store,
        CancellationToken cancellationToken)
    {
        if (ResolvePartition(store, name, partition, out var log) is { } error)
        {
            return error;
        }

        if (!store.GetGroups(name).Groups.Contains(group))
        {
            return NotFound("Consumer group", group);
        }

        if (!request.HasJsonContentType())
        {
            return NotJson(request);
        }

        CommitRequest? body;
        try
        {
            body = await request.ReadFromJsonAsync<CommitRequest>(StreamsJson.Options, cancellationToken);
        }
        catch (System.Text.Json.JsonException ex)
        {
            return Problem(StatusCodes.Status400BadRequest, "Invalid JSON", ex.Message);
        }

        if (body?.Offset is not { } offset || offset < 0 || offset > log.NextOffset)
        {
            return Problem(StatusCodes.Status400BadRequest, "Invalid offset", $"offset must be between 0 and the partition's end ({log.NextOffset}).");
        }

        await store.GetGroups(name).CommitAsync(group, partition, new CommittedOffset(offset, body.Metadata), cancellationToken);
        return Results.NoContent();
    }

    private static async Task<IResult> ReadGroupAsync(string name, string group, int partition, IStreamStore store, string? from, int? max,
        double? wait, CancellationToken cancellationToken)
    {
        if (ResolvePartition(store, name, partition, out var log) is { } error)
        {
            return error;
        }

        var groups = store.GetGroups(name);
        if (!groups.Groups.Contains(group))
        {
            return NotFound("Consumer group", group);
        }

        // Readers of a group read from its committed offset; where nothing is committed yet, 'from' decides (start by default).
        var start = groups.GetCommitted(group, partition)?.Offset ?? (from == "end" ? log.NextOffset : log.StartOffset);
        return await ReadAsync(log, start, max, wait, cancellationToken);
    }

    private sealed class CommitRequest
    {
        public long? Offset { get; set; }

        public string? Metadata { get; set; }
    }
}
