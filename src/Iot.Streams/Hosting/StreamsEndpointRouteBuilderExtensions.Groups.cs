using System.ComponentModel;
using Iot.Messaging.Http;
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
            store.Find(name) is null ? NotFound("Stream", name) : Json(store.GetGroups(name).Groups))
            .WithName("ListConsumerGroups").WithSummary("Lists the stream's consumer groups by name.")
            .Produces<List<string>>()
            .ProducesProblem(StatusCodes.Status404NotFound);
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
        }).WithName("PutConsumerGroup").WithSummary("Creates a consumer group (201), or answers 200 when it exists; no body.")
            .Produces<ConsumerGroupResponse>(StatusCodes.Status201Created)
            .Produces<ConsumerGroupResponse>(StatusCodes.Status200OK)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        streams.MapGet("/{name}/groups/{group}", (string name, string group, IStreamStore store) =>
            store.Find(name) is null ? NotFound("Stream", name)
            : !store.GetGroups(name).Groups.Contains(group) ? NotFound("Consumer group", group)
            : Json(DescribeGroup(store, name, group)))
            .WithName("GetConsumerGroup").WithSummary("Gets a consumer group's committed offset, end and lag per partition.")
            .Produces<ConsumerGroupResponse>()
            .ProducesProblem(StatusCodes.Status404NotFound);
        streams.MapDelete("/{name}/groups/{group}", async (string name, string group, IStreamStore store, CancellationToken cancellationToken) =>
            store.Find(name) is null ? NotFound("Stream", name)
            : await store.GetGroups(name).DeleteAsync(group, cancellationToken) ? Results.NoContent()
            : NotFound("Consumer group", group))
            .WithName("DeleteConsumerGroup").WithSummary("Deletes a consumer group and its committed offsets.")
            .Produces(StatusCodes.Status204NoContent)
            .ProducesProblem(StatusCodes.Status404NotFound);
        streams.MapPut("/{name}/groups/{group}/partitions/{partition:int}/offset", CommitAsync)
            .WithName("CommitConsumerGroupOffset")
            .WithSummary("Commits the group's offset in a partition (0 to the partition's end): the next record it reads.")
            .WithMetadata(new RequestBodyDescription(typeof(CommitRequest), false, ["application/json"]))
            .Produces(StatusCodes.Status204NoContent)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
        streams.MapGet("/{name}/groups/{group}/partitions/{partition:int}/records", ReadGroupAsync)
            .WithName("ReadConsumerGroup")
            .WithSummary("Reads a partition from the group's committed offset (where none is committed: from the start, or the end with from=end); "
                + "commit the offset to move on.")
            .Produces<StreamReadResponse>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
    }

    private static ConsumerGroupResponse DescribeGroup(IStreamStore store, string name, string group)
    {
        var definition = store.Find(name)!;
        var groups = store.GetGroups(name);
        return new ConsumerGroupResponse(
            name,
            group,
            Enumerable.Range(0, definition.Partitions).Select(p =>
            {
                var log = store.GetPartition(name, p);
                var committed = groups.GetCommitted(group, p);
                return new ConsumerGroupPartitionResponse(
                    p,
                    committed?.Offset,
                    committed?.Metadata,
                    log.NextOffset,
                    log.NextOffset - Math.Max(committed?.Offset ?? log.StartOffset, log.StartOffset));
            }));
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

    private static async Task<IResult> ReadGroupAsync(string name, string group, int partition, IStreamStore store,
        [Description("Where to start while the group has no committed offset in the partition: start (default) or end.")] string? from,
        [Description(MaxDescription)] int? max,
        [Description(WaitDescription)] double? wait,
        CancellationToken cancellationToken)
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
