using System.ComponentModel;
using Iot.Messaging.Http;
using Iot.Routing.Internal;
using Iot.Routing.Rules;
using Iot.Routing.Subscriptions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Iot.Routing.Hosting;

public static partial class RoutingEndpointRouteBuilderExtensions
{
    private static void MapSubscriptions(IEndpointRouteBuilder routing)
    {
        var api = routing.MapGroup(string.Empty).WithTags("Subscriptions");
        api.MapGet("/subscriptions", async (HttpContext context) =>
        {
            var registry = context.RequestServices.GetRequiredService<EventSubscriptionRegistry>();
            var store = context.RequestServices.GetRequiredService<IEventDeliveryStore>();
            var result = new List<SubscriptionResponse>();
            foreach (var subscription in registry.All)
            {
                result.Add(await DescribeAsync(store, subscription).ConfigureAwait(false));
            }

            return Json(result);
        }).WithName("ListSubscriptions").WithSummary("Lists the event subscriptions with their pending and dead-lettered counts.")
            .Produces<List<SubscriptionResponse>>();

        api.MapGet("/subscriptions/{name}", async (string name, HttpContext context) =>
        {
            var registry = context.RequestServices.GetRequiredService<EventSubscriptionRegistry>();
            return registry.TryGet(name, out var subscription)
                ? Json(await DescribeAsync(context.RequestServices.GetRequiredService<IEventDeliveryStore>(), subscription).ConfigureAwait(false))
                : NotFound("Subscription", name);
        }).WithName("GetSubscription").WithSummary("Gets an event subscription with its pending and dead-lettered counts.")
            .Produces<SubscriptionResponse>()
            .ProducesProblem(StatusCodes.Status404NotFound);

        // 403: an MQTT destination the caller may not publish to, or a '$' topic.
        api.MapPut("/subscriptions/{name}", (string name, HttpContext context) => UpsertSubscriptionAsync(name, context))
            .WithName("PutSubscription").WithSummary("Creates (201) or replaces (200) the event subscription of that name.")
            .DescribeUpsert<EventSubscriptionDefinition, SubscriptionResponse>(StatusCodes.Status403Forbidden);
        api.MapPost("/subscriptions", (HttpRequest request) => UpsertSubscriptionAsync(null, request.HttpContext))
            .WithName("CreateSubscription").WithSummary("Creates (201) or replaces (200) the event subscription named in the body.")
            .DescribeUpsert<EventSubscriptionDefinition, SubscriptionResponse>(StatusCodes.Status403Forbidden);

        api.MapDelete("/subscriptions/{name}", async (string name, HttpContext context) =>
        {
            var (outcome, _) = await context.RequestServices.GetRequiredService<EventSubscriptionRegistry>().DeleteAsync(name).ConfigureAwait(false);
            return outcome == ChangeOutcome.Deleted ? Results.NoContent() : NotFound("Subscription", name);
        }).WithName("DeleteSubscription").WithSummary("Deletes an event subscription and its pending events.")
            .Produces(StatusCodes.Status204NoContent)
            .ProducesProblem(StatusCodes.Status404NotFound);

        api.MapGet("/subscriptions/{name}/deadletters", async (string name, [Description("The most events to list, 1 to 1000 (100 by default).")] int? maxEvents, HttpContext context) =>
        {
            if (!context.RequestServices.GetRequiredService<EventSubscriptionRegistry>().TryGet(name, out _))
            {
                return NotFound("Subscription", name);
            }

            var rows = await context.RequestServices.GetRequiredService<IEventDeliveryStore>()
                .ListDeadLettersAsync(name, Math.Clamp(maxEvents ?? 100, 1, 1000)).ConfigureAwait(false);
            return Json(new ValueList<DeadLetteredEventResponse>(rows.Select(r => new DeadLetteredEventResponse(
                r.EventId, r.Reason, r.Attempts, r.LastOutcome, FromUnixMs(r.DeadLetteredAt), FromUnixMs(r.EnqueuedAt), ParseEvent(r.Event))).ToList()));
        }).WithName("ListSubscriptionDeadLetters").WithSummary("Lists up to maxEvents (1-1000, 100 by default) dead-lettered events, with the reason and last outcome.")
            .Produces<ValueList<DeadLetteredEventResponse>>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);

        api.MapPost("/subscriptions/{name}/deadletters:redeliver", async (string name, HttpContext context) =>
        {
            var services = context.RequestServices;
            if (!services.GetRequiredService<EventSubscriptionRegistry>().TryGet(name, out var subscription))
            {
                return NotFound("Subscription", name);
            }

            RedeliverRequest? body = null;
            if (context.Request.ContentLength is > 0 || context.Request.Headers.TransferEncoding.Count > 0)
            {
                var (parsed, error) = await ReadBodyAsync<RedeliverRequest>(context.Request).ConfigureAwait(false);
                if (parsed is null)
                {
                    return error!;
                }

                body = parsed;
            }

            long now = services.GetRequiredService<TimeProvider>().GetUtcNow().ToUnixTimeMilliseconds();
            long ttl = (long)subscription.Definition.RetryPolicy.EventTtl.TotalMilliseconds;
            int count = await services.GetRequiredService<IEventDeliveryStore>().RedeliverAsync(name, body?.EventIds, now, now + ttl).ConfigureAwait(false);
            services.GetRequiredService<DeliverySignals>().Set(name);
            return Json(new RedeliveredResponse(count));
        }).WithName("RedeliverSubscriptionDeadLetters").WithSummary("Queues dead-lettered events for delivery again: those named in eventIds, or all of them (no body).")
            .WithMetadata(new RequestBodyDescription(typeof(RedeliverRequest), true, ["application/json"]))
            .Produces<RedeliveredResponse>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);
    }

    private static async Task<IResult> UpsertSubscriptionAsync(string? name, HttpContext context)
    {
        var (definition, bodyError) = await ReadBodyAsync<EventSubscriptionDefinition>(context.Request).ConfigureAwait(false);
        if (definition is null)
        {
            return bodyError!;
        }

        if (name is not null)
        {
            if (!string.IsNullOrEmpty(definition.Name) && definition.Name != name)
            {
                return Problem(StatusCodes.Status400BadRequest, "Invalid subscription", $"The body's name '{definition.Name}' differs from the URL's '{name}'.");
            }

            definition.Name = name;
        }

        if (!EventSubscriptionRegistry.TryCompile(definition, out _, out var invalid))
        {
            return Problem(StatusCodes.Status400BadRequest, "Invalid subscription", invalid);
        }

        if (CheckDestination(definition.Destination, context) is { } refused)
        {
            context.RequestServices.GetRequiredService<RoutingMetrics>().Add(RoutingCounter.DestinationsForbidden);
            return refused;
        }

        var registry = context.RequestServices.GetRequiredService<EventSubscriptionRegistry>();
        var store = context.RequestServices.GetRequiredService<IEventDeliveryStore>();
        var (outcome, error) = await registry.UpsertAsync(definition).ConfigureAwait(false);
        if (outcome is not (ChangeOutcome.Created or ChangeOutcome.Replaced) || !registry.TryGet(definition.Name, out var subscription))
        {
            return Problem(StatusCodes.Status400BadRequest, "Invalid subscription", error ?? "The subscription is invalid.");
        }

        var description = await DescribeAsync(store, subscription).ConfigureAwait(false);
        return outcome == ChangeOutcome.Created ? Created(context, "/subscriptions/" + definition.Name, description) : Json(description);
    }

    /// <summary>
    /// The destination checks that depend on the host and the caller: a webhook URL whose host is a refused literal
    /// address (400; names are checked when connecting), an MQTT topic starting with <c>$</c> or one the caller may not
    /// publish to (403).
    /// </summary>
    private static IResult? CheckDestination(EventSubscriptionEndpoint destination, HttpContext context)
    {
        if (destination.Kind == EventDeliveryKind.Webhook
            && context.RequestServices.GetRequiredService<WebhookAddressPolicy>().CheckHost(destination.EndpointUrl!) is { } reason)
        {
            return Problem(StatusCodes.Status400BadRequest, "Webhook destination not allowed",
                $"destination.endpointUrl: {reason}; webhooks may not reach loopback, private, link-local, shared or reserved addresses "
                + "(Iot:Routing:WebhookAllowPrivateNetworks, Iot:Routing:WebhookAllowedNetworks).");
        }

        if (destination.Kind == EventDeliveryKind.Mqtt)
        {
            var topic = destination.Topic!;
            if (topic.StartsWith('$'))
            {
                return Problem(StatusCodes.Status403Forbidden, "MQTT destination not allowed",
                    $"destination.topic '{topic}': topics starting with '$' are the broker's own and never a subscription's destination.");
            }

            if (!context.RequestServices.GetRequiredService<IPublishAuthorizer>().CanPublish(context.User, topic))
            {
                var who = context.User.Identity is { IsAuthenticated: true, Name: { } name } ? $"Identity '{name}'" : "An anonymous caller";
                return Problem(StatusCodes.Status403Forbidden, "MQTT destination not allowed",
                    $"destination.topic '{topic}': {who} may not publish to this topic, so a subscription it creates may not either.");
            }
        }

        return null;
    }

    private static async Task<SubscriptionResponse> DescribeAsync(IEventDeliveryStore store, CompiledEventSubscription subscription)
    {
        var (pending, deadLettered) = await store.CountAsync(subscription.Name).ConfigureAwait(false);
        var d = subscription.Definition;
        return new SubscriptionResponse(d.Name, d.Filter, d.Destination, d.RetryPolicy, d.DeadLetter, d.Batching, d.Pull, pending, deadLettered);
    }

    private sealed class RedeliverRequest
    {
        public List<string>? EventIds { get; set; }
    }
}
