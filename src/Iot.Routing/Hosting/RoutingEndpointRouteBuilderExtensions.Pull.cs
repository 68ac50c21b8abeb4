using System.ComponentModel;
using Iot.Messaging.Http;
using Iot.Routing.Internal;
using Iot.Routing.Subscriptions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Iot.Routing.Hosting;

public static partial class RoutingEndpointRouteBuilderExtensions
{
    private static void MapPull(IEndpointRouteBuilder routing)
    {
        var api = routing.MapGroup(string.Empty).WithTags("Subscriptions");
        api.MapPost("/subscriptions/{name}/events:receive", async (string name,
            [Description("The most events to receive, 1 to 100 (1 by default).")] int? maxEvents,
            [Description("Seconds to wait for the first event when none is ready, 0 to 120 (0 by default).")] double? maxWaitTime,
            HttpContext context) =>
        {
            if (maxEvents is < 1 or > PullDelivery.MaxEventsPerReceive)
            {
                return Problem(StatusCodes.Status400BadRequest, "Invalid receive", $"maxEvents must be between 1 and {PullDelivery.MaxEventsPerReceive}.");
            }

            if (maxWaitTime is < 0 or > 120)
            {
                return Problem(StatusCodes.Status400BadRequest, "Invalid receive", "maxWaitTime must be between 0 and 120 seconds.");
            }

            var (error, events) = await context.RequestServices.GetRequiredService<PullDelivery>()
                .ReceiveAsync(name, maxEvents ?? 1, TimeSpan.FromSeconds(maxWaitTime ?? 0), context.RequestAborted).ConfigureAwait(false);
            return error != PullError.None ? PullProblem(error, name) : Json(new ValueList<PulledEventResponse>(
                events.Select(e => new PulledEventResponse(new PulledEventLock(e.LockToken, e.DeliveryCount, e.LockedUntil), ParseEvent(e.Event))).ToList()));
        }).WithName("ReceiveSubscriptionEvents")
            .WithSummary("Receives up to maxEvents events of a pull subscription, locked until acknowledged, released, rejected or their lock expires.")
            .Produces<ValueList<PulledEventResponse>>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);

        MapSettle(api, "acknowledge", (pull, name, body) => pull.AcknowledgeAsync(name, body.LockTokens!));
        MapSettle(api, "release", (pull, name, body) => pull.ReleaseAsync(name, body.LockTokens!, TimeSpan.FromSeconds(Math.Clamp(body.ReleaseDelayInSeconds ?? 0, 0, 3600))));
        MapSettle(api, "reject", (pull, name, body) => pull.RejectAsync(name, body.LockTokens!));
        MapSettle(api, "renewLock", (pull, name, body) => pull.RenewLockAsync(name, body.LockTokens!));
    }

    private static void MapSettle(IEndpointRouteBuilder api, string operation,
        Func<PullDelivery, string, LockTokensRequest, Task<(PullError Error, LockTokenResult? Result)>> settle) =>
        api.MapPost($"/subscriptions/{{name}}/events:{operation}", async (string name, HttpContext context) =>
        {
            var (body, bodyError) = await ReadBodyAsync<LockTokensRequest>(context.Request).ConfigureAwait(false);
            if (body is null)
            {
                return bodyError!;
            }

            if (body.LockTokens is not { Count: > 0 and <= 1000 })
            {
                return Problem(StatusCodes.Status400BadRequest, "Invalid lock tokens", "lockTokens must hold between 1 and 1000 lock tokens.");
            }

            var (error, result) = await settle(context.RequestServices.GetRequiredService<PullDelivery>(), name, body).ConfigureAwait(false);
            return error != PullError.None ? PullProblem(error, name) : Json(new LockTokensResponse(
                result!.Succeeded, result.Failed.Select(f => new FailedLockToken(f.LockToken, f.Error)).ToList()));
        }).WithName(SettleOperationName("SubscriptionEvents", operation))
            .WithSummary(operation switch
            {
                "acknowledge" => "Acknowledges pulled events by lock token: they are done.",
                "release" => "Releases pulled events by lock token: they are offered again (after releaseDelayInSeconds, 0-3600).",
                "reject" => "Rejects pulled events by lock token: they are dead-lettered.",
                _ => "Renews the locks of pulled events by lock token.",
            })
            .WithMetadata(new RequestBodyDescription(typeof(LockTokensRequest), false, ["application/json"]))
            .Produces<LockTokensResponse>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);

    /// <summary>The operation id of a settlement: <c>acknowledge</c> on <c>SubscriptionEvents</c> is <c>AcknowledgeSubscriptionEvents</c>.</summary>
    private static string SettleOperationName(string target, string operation) => char.ToUpperInvariant(operation[0]) + operation[1..] + target;

    private static IResult PullProblem(PullError error, string name) => error == PullError.NotFound
        ? NotFound("Subscription", name)
        : Problem(StatusCodes.Status409Conflict, "Not a pull subscription", $"The subscription '{name}' does not deliver by pull.");

    private sealed class LockTokensRequest
    {
        public List<string>? LockTokens { get; set; }

        public double? ReleaseDelayInSeconds { get; set; }
    }
}
