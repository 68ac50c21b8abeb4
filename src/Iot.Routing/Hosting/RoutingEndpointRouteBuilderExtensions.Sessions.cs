using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Iot.Routing.Hosting;

public static partial class RoutingEndpointRouteBuilderExtensions
{
    private static void MapSessions(IEndpointRouteBuilder api)
    {
        api.MapPost("/queues/{name}/sessions:accept", (string name, string? sessionId, HttpContext context) => QueueCall(async () =>
            await Store(context).AcceptSessionAsync(name, sessionId, context.RequestAborted).ConfigureAwait(false) is { } session
                ? Json(session)
                : Problem(StatusCodes.Status409Conflict, "No session available",
                    sessionId is null ? "No unlocked session has available messages." : $"The session '{sessionId}' is locked by another receiver.")));

        api.MapPost("/queues/{name}/sessions/{sessionId}:renewLock", (string name, string sessionId, string lockToken, HttpContext context) => QueueCall(async () =>
            await Store(context).RenewSessionLockAsync(name, sessionId, lockToken, context.RequestAborted).ConfigureAwait(false) is { } until
                ? Json(new { SessionId = sessionId, LockedUntil = until })
                : SessionLockLost(sessionId)));

        api.MapPost("/queues/{name}/sessions/{sessionId}:release", (string name, string sessionId, string lockToken, HttpContext context) => QueueCall(async () =>
            await Store(context).ReleaseSessionAsync(name, sessionId, lockToken, context.RequestAborted).ConfigureAwait(false)
                ? Results.NoContent()
                : SessionLockLost(sessionId)));

        api.MapGet("/queues/{name}/sessions/{sessionId}/state", (string name, string sessionId, HttpContext context) => QueueCall(async () =>
            await Store(context).GetSessionStateAsync(name, sessionId, context.RequestAborted).ConfigureAwait(false) is { } state
                ? Results.Bytes(state, "application/octet-stream")
                : Results.NoContent()));

        api.MapPut("/queues/{name}/sessions/{sessionId}/state", (string name, string sessionId, string lockToken, HttpContext context) => QueueCall(async () =>
        {
            var (state, tooLarge) = await ReadPayloadAsync(context.Request, MaxQueueMessageBytes).ConfigureAwait(false);
            if (tooLarge)
            {
                return Problem(StatusCodes.Status413PayloadTooLarge, "State too large", $"A session state may have at most {MaxQueueMessageBytes} bytes.");
            }

            return await Store(context).SetSessionStateAsync(name, sessionId, lockToken, state.Length == 0 ? null : state, context.RequestAborted).ConfigureAwait(false)
                ? Results.NoContent()
                : SessionLockLost(sessionId);
        }));
    }

    private static IResult SessionLockLost(string sessionId) =>
        Problem(StatusCodes.Status409Conflict, "Session lock lost", $"The lock of session '{sessionId}' is not held (expired, released or taken by another receiver).");
}
