using System.ComponentModel;
using Iot.Messaging.Http;
using Iot.Routing.Queues;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Iot.Routing.Hosting;

public static partial class RoutingEndpointRouteBuilderExtensions
{
    private const string SessionLockTokenDescription = "The session's lock token, from sessions:accept.";

    private static void MapSessions(IEndpointRouteBuilder api)
    {
        api.MapPost("/queues/{name}/sessions:accept", (string name,
            [Description("The session to accept; left out: the next unlocked session with messages.")] string? sessionId,
            HttpContext context) => QueueCall(async () =>
            await Store(context).AcceptSessionAsync(name, sessionId, context.RequestAborted).ConfigureAwait(false) is { } session
                ? Json(session)
                : Problem(StatusCodes.Status409Conflict, "No session available",
                    sessionId is null ? "No unlocked session has available messages." : $"The session '{sessionId}' is locked by another receiver.")))
            .WithName("AcceptQueueSession")
            .WithSummary("Locks a session of a session queue: the one named, or the next unlocked one with messages; 409 when none is available.")
            .Produces<SessionLock>()
            .DescribeQueueProblems(StatusCodes.Status409Conflict);

        api.MapPost("/queues/{name}/sessions/{sessionId}:renewLock", (string name, string sessionId,
            [Description(SessionLockTokenDescription)] string lockToken, HttpContext context) => QueueCall(async () =>
            await Store(context).RenewSessionLockAsync(name, sessionId, lockToken, context.RequestAborted).ConfigureAwait(false) is { } until
                ? Json(new SessionLockRenewedResponse(sessionId, until))
                : SessionLockLost(sessionId)))
            .WithName("RenewQueueSessionLock")
            .WithSummary("Renews a session's lock (lockToken from accept).")
            .Produces<SessionLockRenewedResponse>()
            .DescribeQueueProblems(StatusCodes.Status409Conflict);

        api.MapPost("/queues/{name}/sessions/{sessionId}:release", (string name, string sessionId,
            [Description(SessionLockTokenDescription)] string lockToken, HttpContext context) => QueueCall(async () =>
            await Store(context).ReleaseSessionAsync(name, sessionId, lockToken, context.RequestAborted).ConfigureAwait(false)
                ? Results.NoContent()
                : SessionLockLost(sessionId)))
            .WithName("ReleaseQueueSession")
            .WithSummary("Releases a session's lock so another receiver may accept it.")
            .Produces(StatusCodes.Status204NoContent)
            .DescribeQueueProblems(StatusCodes.Status409Conflict);

        api.MapGet("/queues/{name}/sessions/{sessionId}/state", (string name, string sessionId, HttpContext context) => QueueCall(async () =>
            await Store(context).GetSessionStateAsync(name, sessionId, context.RequestAborted).ConfigureAwait(false) is { } state
                ? Results.Bytes(state, "application/octet-stream")
                : Results.NoContent()))
            .WithName("GetQueueSessionState")
            .WithSummary("Gets a session's state (the bytes last set); 204 when it has none.")
            .Produces<Stream>(StatusCodes.Status200OK, "application/octet-stream")
            .Produces(StatusCodes.Status204NoContent)
            .DescribeQueueProblems();

        api.MapPut("/queues/{name}/sessions/{sessionId}/state", (string name, string sessionId,
            [Description(SessionLockTokenDescription)] string lockToken, HttpContext context) => QueueCall(async () =>
        {
            var (state, tooLarge) = await ReadPayloadAsync(context.Request, MaxQueueMessageBytes).ConfigureAwait(false);
            if (tooLarge)
            {
                return Problem(StatusCodes.Status413PayloadTooLarge, "State too large", $"A session state may have at most {MaxQueueMessageBytes} bytes.");
            }

            return await Store(context).SetSessionStateAsync(name, sessionId, lockToken, state.Length == 0 ? null : state, context.RequestAborted).ConfigureAwait(false)
                ? Results.NoContent()
                : SessionLockLost(sessionId);
        }))
            .WithName("SetQueueSessionState")
            .WithSummary("Sets a session's state (any bytes; an empty body clears it) while holding its lock.")
            .WithMetadata(new RequestBodyDescription(typeof(Stream), true, ["application/octet-stream"]))
            .Produces(StatusCodes.Status204NoContent)
            .DescribeQueueProblems(StatusCodes.Status409Conflict, StatusCodes.Status413PayloadTooLarge);
    }

    private static IResult SessionLockLost(string sessionId) =>
        Problem(StatusCodes.Status409Conflict, "Session lock lost", $"The lock of session '{sessionId}' is not held (expired, released or taken by another receiver).");
}
