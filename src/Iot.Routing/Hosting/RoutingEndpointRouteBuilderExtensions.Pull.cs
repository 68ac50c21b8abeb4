using Iot.Routing.Internal;
using Iot.Routing.Subscriptions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Iot.Routing.Hosting;

public static partial class RoutingEndpointRouteBuilderExtensions
{
    private static void MapPull(IEndpointRouteBuilder api)
    {
        api.MapPost("/subscriptions/{name}/events:receive", async (string name, int? maxEvents, double? maxWaitTime, HttpContext context) =>
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
            return error != PullError.None ? PullProblem(error, name) : Json(new
            {
                Value = events.Select(e => new
                {
                    BrokerProperties = new { e.LockToken, e.DeliveryCount, e.LockedUntil },
                    Event = ParseEvent(e.Event),
                }).ToList(),
            });
        });

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
            return error != PullError.None ? PullProblem(error, name) : Json(new
            {
                SucceededLockTokens = result!.Succeeded,
                FailedLockTokens = result.Failed.Select(f => new { f.LockToken, f.Error }).ToList(),
            });
        });

    private static IResult PullProblem(PullError error, string name) => error == PullError.NotFound
        ? NotFound("Subscription", name)
        : Problem(StatusCodes.Status409Conflict, "Not a pull subscription", $"The subscription '{name}' does not deliver by pull.");

    private sealed class LockTokensRequest
    {
        public List<string>? LockTokens { get; set; }

        public double? ReleaseDelayInSeconds { get; set; }
    }
}
