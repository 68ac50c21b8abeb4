using Iot.Messaging.Http;
using Iot.Routing.Rules;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Iot.Routing.Hosting;

public static partial class RoutingEndpointRouteBuilderExtensions
{
    private static void MapRoutes(IEndpointRouteBuilder routing)
    {
        var api = routing.MapGroup(string.Empty).WithTags("Routes");
        api.MapGet("/routes", (HttpContext context) =>
        {
            var table = context.RequestServices.GetRequiredService<RouteTable>();
            return Json(table.All.Select(r => Describe(table, r)).ToList());
        }).WithName("ListRoutes").WithSummary("Lists the routes: built-in, from configuration and from the API.")
            .Produces<List<RouteResponse>>();

        api.MapGet("/routes/{name}", (string name, HttpContext context) =>
        {
            var table = context.RequestServices.GetRequiredService<RouteTable>();
            return table.TryGet(name, out var route) ? Json(Describe(table, route)) : NotFound("Route", name);
        }).WithName("GetRoute").WithSummary("Gets a route and how many messages it matched.")
            .Produces<RouteResponse>()
            .ProducesProblem(StatusCodes.Status404NotFound);

        api.MapPut("/routes/{name}", (string name, HttpContext context) => UpsertRouteAsync(name, context))
            .WithName("PutRoute").WithSummary("Creates (201) or replaces (200) the route of that name.")
            .DescribeUpsert<RouteDefinition, RouteResponse>(StatusCodes.Status409Conflict);
        api.MapPost("/routes", (HttpRequest request) => UpsertRouteAsync(null, request.HttpContext))
            .WithName("CreateRoute").WithSummary("Creates (201) or replaces (200) the route named in the body.")
            .DescribeUpsert<RouteDefinition, RouteResponse>(StatusCodes.Status409Conflict);

        api.MapDelete("/routes/{name}", async (string name, HttpContext context) =>
        {
            var (outcome, error) = await context.RequestServices.GetRequiredService<RouteTable>().DeleteAsync(name).ConfigureAwait(false);
            return outcome switch
            {
                ChangeOutcome.Deleted => Results.NoContent(),
                ChangeOutcome.NotFound => NotFound("Route", name),
                _ => Problem(StatusCodes.Status409Conflict, "Route is read-only", error!),
            };
        }).WithName("DeleteRoute").WithSummary("Deletes a route made through the API (routes from configuration and built-in ones are read-only: 409).")
            .Produces(StatusCodes.Status204NoContent)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
    }

    /// <summary>
    /// The document's view of a create-or-replace: a JSON body, 201 or 200 with the resource, or a problem (400, 413 and
    /// <paramref name="problems"/>).
    /// </summary>
    private static RouteHandlerBuilder DescribeUpsert<TBody, TResponse>(this RouteHandlerBuilder builder, params int[] problems)
    {
        builder.WithMetadata(new RequestBodyDescription(typeof(TBody), false, ["application/json"]))
            .Produces<TResponse>(StatusCodes.Status201Created)
            .Produces<TResponse>(StatusCodes.Status200OK)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);
        foreach (var status in problems)
        {
            builder.ProducesProblem(status);
        }

        return builder;
    }

    private static async Task<IResult> UpsertRouteAsync(string? name, HttpContext context)
    {
        var (definition, bodyError) = await ReadBodyAsync<RouteDefinition>(context.Request).ConfigureAwait(false);
        if (definition is null)
        {
            return bodyError!;
        }

        if (name is not null)
        {
            if (!string.IsNullOrEmpty(definition.Name) && definition.Name != name)
            {
                return Problem(StatusCodes.Status400BadRequest, "Invalid route", $"The body's name '{definition.Name}' differs from the URL's '{name}'.");
            }

            definition.Name = name;
        }

        var table = context.RequestServices.GetRequiredService<RouteTable>();
        var (outcome, error) = await table.UpsertAsync(definition).ConfigureAwait(false);
        return outcome switch
        {
            ChangeOutcome.Created => Created(context, "/routes/" + definition.Name, Describe(table, table.TryGet(definition.Name, out var created) ? created : null!)),
            ChangeOutcome.Replaced => Json(Describe(table, table.TryGet(definition.Name, out var replaced) ? replaced : null!)),
            ChangeOutcome.ReadOnly => Problem(StatusCodes.Status409Conflict, "Route is read-only", error!),
            _ => Problem(StatusCodes.Status400BadRequest, "Invalid route", error!),
        };
    }

    private static RouteResponse Describe(RouteTable table, CompiledRoute route) => new(
        route.Definition.Name,
        route.Definition.Source,
        route.Definition.Conditions,
        route.Definition.Destination,
        route.Definition.Enabled,
        route.IsBuiltIn ? "builtIn" : table.IsReadOnly(route.Name) ? "configuration" : "api",
        route.Matched);

    private static IResult Created(HttpContext context, string relativePath, object value)
    {
        context.Response.Headers.Location = $"{context.Request.PathBase}{RoutePrefix(context)}{relativePath}";
        return Json(value, StatusCodes.Status201Created);
    }

    // The prefix of the group this API is mapped under (e.g. /api), taken from the request path.
    private static string RoutePrefix(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "";
        int index = path.LastIndexOf("/routes", StringComparison.Ordinal);
        if (index < 0)
        {
            index = path.LastIndexOf("/subscriptions", StringComparison.Ordinal);
        }

        return index > 0 ? path[..index] : "";
    }
}
