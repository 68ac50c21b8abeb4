using System.Text.Json;
using Iot.Routing.Internal;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Iot.Routing.Hosting;

/// <summary>Maps the routing layer's HTTP API (see docs/api.md).</summary>
public static partial class RoutingEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps <c>/routes</c>, <c>/events</c> and <c>/subscriptions</c> (with pull and dead-letter operations) relative
    /// to <paramref name="api"/>, typically the authenticated <c>/api</c> group. JSON is camelCase; errors are RFC 7807
    /// problem details.
    /// </summary>
    public static IEndpointRouteBuilder MapRoutingApi(this IEndpointRouteBuilder api)
    {
        ArgumentNullException.ThrowIfNull(api);
        // Each area tags its own endpoints (Routes, Events, Subscriptions, Queues, Commands).
        var group = api.MapGroup(string.Empty);
        MapRoutes(group);
        MapEvents(group);
        MapSubscriptions(group);
        MapPull(group);
        MapQueues(group);
        MapCommands(group);
        return api;
    }

    private static IResult Json(object value, int statusCode = StatusCodes.Status200OK) =>
        Results.Json(value, RoutingJson.Options, statusCode: statusCode);

    private static IResult Problem(int statusCode, string title, string detail) =>
        Results.Problem(detail: detail, statusCode: statusCode, title: title);

    private static IResult NotFound(string what, string name) =>
        Problem(StatusCodes.Status404NotFound, $"{what} not found", $"There is no {what.ToLowerInvariant()} named '{name}'.");

    /// <summary>Reads a JSON body; a missing or malformed body is a 400 with the parser's message.</summary>
    private static async Task<(T? Value, IResult? Error)> ReadBodyAsync<T>(HttpRequest request)
        where T : class
    {
        try
        {
            var value = await JsonSerializer.DeserializeAsync<T>(request.Body, RoutingJson.Options, request.HttpContext.RequestAborted).ConfigureAwait(false);
            return value is null
                ? (null, Problem(StatusCodes.Status400BadRequest, "Invalid body", "The request body must be a JSON object."))
                : (value, null);
        }
        catch (JsonException ex)
        {
            return (null, Problem(StatusCodes.Status400BadRequest, "Invalid body", "The request body is not valid JSON for this resource: " + ex.Message));
        }
    }

    private static JsonElement ParseEvent(byte[] encoded) => JsonSerializer.Deserialize<JsonElement>(encoded);

    private static DateTimeOffset? FromUnixMs(long? value) => value is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;
}
