using Iot.Messaging.Http;
using System.Net.Mime;
using System.Text.Json;
using CloudNative.CloudEvents;
using Iot.Messaging.Topics;
using Iot.Routing.Rules;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Iot.Routing.Hosting;

public static partial class RoutingEndpointRouteBuilderExtensions
{
    private const string SingleEventMediaType = "application/cloudevents+json";
    private const string BatchMediaType = "application/cloudevents-batch+json";

    private static void MapEvents(IEndpointRouteBuilder api) =>
        api.MapPost("/events", (HttpRequest request) => PostEventsAsync(request))
            .WithName("PublishEvents").WithTags("Events")
            .WithSummary("Publishes one structured CloudEvent or a batch, each routed by its subject as a topic; answers after every routed event is recorded.")
            .WithMetadata(new RequestBodyDescription(typeof(JsonElement), false, [SingleEventMediaType, BatchMediaType, "application/json"]))
            .Produces<EventsAcceptedResponse>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType);

    /// <summary>
    /// Accepts one structured CloudEvent (<c>application/cloudevents+json</c>) or a batch
    /// (<c>application/cloudevents-batch+json</c>; plain <c>application/json</c> is read as either by its first character)
    /// and routes each by its subject. Responds after every routed event is durably recorded.
    /// </summary>
    private static async Task<IResult> PostEventsAsync(HttpRequest request)
    {
        var services = request.HttpContext.RequestServices;
        var options = services.GetRequiredService<IOptions<RoutingOptions>>().Value;
        var mediaType = request.ContentType is { } contentType && MediaTypeOf(contentType) is { } parsed ? parsed : null;
        if (mediaType is not (SingleEventMediaType or BatchMediaType or "application/json"))
        {
            return Problem(StatusCodes.Status415UnsupportedMediaType, "Unsupported content type",
                $"Send {SingleEventMediaType} (one event) or {BatchMediaType} (a JSON array of events); got '{request.ContentType}'.");
        }

        var read = await ReadLimitedAsync(request, options.MaxEventPostBytes).ConfigureAwait(false);
        if (read is not { } body)
        {
            return Problem(StatusCodes.Status413PayloadTooLarge, "Body too large",
                $"The body exceeds {options.MaxEventPostBytes} bytes (Iot:Routing:MaxEventPostBytes).");
        }

        bool isBatch = mediaType == BatchMediaType || (mediaType == "application/json" && FirstNonWhitespace(body) == '[');
        IReadOnlyList<CloudEvent> events;
        try
        {
            events = isBatch
                ? RoutedEvent.Formatter.DecodeBatchModeMessage(body, new ContentType(BatchMediaType), null)
                : [RoutedEvent.Formatter.DecodeStructuredModeMessage(body, new ContentType(SingleEventMediaType), null)];
        }
        catch (Exception ex) when (ex is ArgumentException or JsonException or FormatException or InvalidOperationException)
        {
            return Problem(StatusCodes.Status400BadRequest, "Invalid CloudEvent", ex.Message);
        }

        for (int i = 0; i < events.Count; i++)
        {
            var cloudEvent = events[i];
            var where = isBatch ? $"Event {i} (id '{cloudEvent.Id}')" : $"The event (id '{cloudEvent.Id}')";
            if (!cloudEvent.IsValid)
            {
                return Problem(StatusCodes.Status400BadRequest, "Invalid CloudEvent", $"{where} lacks a required attribute (id, source, type, specversion).");
            }

            if (cloudEvent.Subject is { Length: > 0 } subject && !TopicNames.IsValidTopicName(subject))
            {
                return Problem(StatusCodes.Status400BadRequest, "Invalid CloudEvent",
                    $"{where} has subject '{subject}', which is not a valid MQTT topic name (routes match the subject as a topic; no '+' or '#').");
            }
        }

        await services.GetRequiredService<MessageRouter>().PublishAsync(events).ConfigureAwait(false);
        return Json(new EventsAcceptedResponse(events.Count));
    }

    private static string? MediaTypeOf(string contentType)
    {
        try
        {
            return new ContentType(contentType).MediaType.ToLowerInvariant();
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static char FirstNonWhitespace(ReadOnlyMemory<byte> body)
    {
        foreach (byte b in body.Span)
        {
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
            {
                return (char)b;
            }
        }

        return '\0';
    }

    /// <summary>Reads the body; null when it is longer than <paramref name="limit"/>.</summary>
    private static async Task<ReadOnlyMemory<byte>?> ReadLimitedAsync(HttpRequest request, int limit)
    {
        if (request.ContentLength > limit)
        {
            return null;
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, request.HttpContext.RequestAborted).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
    }
}
