using System.ComponentModel;
using Iot.Messaging.Http;
using System.Globalization;
using System.Text.Json;
using Iot.Messaging;
using Iot.Routing.Commands;
using Iot.Routing.Queues;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Iot.Routing.Hosting;

public static partial class RoutingEndpointRouteBuilderExtensions
{
    private const int MaxCommandBytes = 256 * 1024;

    private static void MapCommands(IEndpointRouteBuilder api)
    {
        // Only the /commands/ sub-route of /devices: the device registry itself belongs to the identity API.
        var commands = api.MapGroup(string.Empty).WithTags("Commands");
        commands.MapPost("/devices/{id}/commands/{name}", async (string id, string name,
            [Description("Seconds the command stays queued for the device (1 to Iot:Commands:MaxTimeToLive); the default is Iot:Commands:DefaultTimeToLive.")] double? ttl,
            [Description("Duplicate detection: a second command with the same messageId within the window is the same command (at most 128 characters).")] string? messageId,
            [Description("Seconds to wait for the device's answer (above 0, at most Iot:Commands:MaxWait): 200 with it, or 504 when the wait ends first.")] double? wait,
            [Description("A queue that also receives the device's answer as a message.")] string? replyQueue,
            [Description("The session of replyQueue the answer goes to (replyQueue must require sessions; the device id when left out).")] string? replySessionId,
            HttpContext context) =>
        {
            var services = context.RequestServices;
            var options = services.GetRequiredService<IOptions<CommandOptions>>().Value;
            if (ResourceNames.Validate(id, "device id") is { } invalidId)
            {
                return Problem(StatusCodes.Status400BadRequest, "Invalid device id", invalidId);
            }

            if (!CommandService.IsValidTopicLevel(name))
            {
                return Problem(StatusCodes.Status400BadRequest, "Invalid command", "The command name must be a valid MQTT topic level (no '/', '+' or '#').");
            }

            if (ttl is { } t && (t < 1 || t > options.MaxTimeToLive.TotalSeconds))
            {
                return Problem(StatusCodes.Status400BadRequest, "Invalid command", $"ttl must be between 1 and {options.MaxTimeToLive.TotalSeconds:0} seconds.");
            }

            if (wait is { } w && (w <= 0 || w > options.MaxWait.TotalSeconds))
            {
                return Problem(StatusCodes.Status400BadRequest, "Invalid command", $"wait must be above 0 and at most {options.MaxWait.TotalSeconds:0} seconds.");
            }

            if (messageId is { Length: > 128 })
            {
                return Problem(StatusCodes.Status400BadRequest, "Invalid command", "messageId must have at most 128 characters.");
            }

            if (replyQueue is not null && (replyQueue.StartsWith('$') || services.GetRequiredService<IQueueStore>().FindQueue(replyQueue) is null))
            {
                return Problem(StatusCodes.Status400BadRequest, "Invalid command", $"replyQueue '{replyQueue}' is not a queue.");
            }

            if (ValidateReplySession(replyQueue, replySessionId, services.GetRequiredService<IQueueStore>()) is { } invalidSession)
            {
                return Problem(StatusCodes.Status400BadRequest, "Invalid command", invalidSession);
            }

            var (payload, tooLarge) = await ReadPayloadAsync(context.Request, MaxCommandBytes).ConfigureAwait(false);
            if (tooLarge)
            {
                return Problem(StatusCodes.Status413PayloadTooLarge, "Command too large", $"A command payload may have at most {MaxCommandBytes} bytes.");
            }

            var commands = services.GetRequiredService<CommandService>();
            var (command, _) = await commands.SendAsync(new CommandRequest(id, name, payload, context.Request.ContentType,
                ttl is { } seconds ? TimeSpan.FromSeconds(seconds) : null, messageId, replyQueue, replySessionId), context.RequestAborted).ConfigureAwait(false);
            var location = CommandLocation(context.Request, command.CommandId);
            if (wait is not { } waitSeconds)
            {
                context.Response.Headers.Location = location;
                return Json(CommandView(command), StatusCodes.Status202Accepted);
            }

            var outcome = await commands.WaitAsync(command.CommandId, TimeSpan.FromSeconds(waitSeconds), context.RequestAborted).ConfigureAwait(false) ?? command;
            if (outcome.Status is CommandStatus.Completed or CommandStatus.Failed)
            {
                return Json(CommandView(outcome));
            }

            context.Response.Headers.Location = location;
            return outcome.IsFinal
                ? Json(CommandView(outcome))
                : Results.Problem(statusCode: StatusCodes.Status504GatewayTimeout, title: "No answer yet",
                    detail: $"The device did not answer within {waitSeconds.ToString(CultureInfo.InvariantCulture)} s; command {command.CommandId} stays queued until its TTL.",
                    extensions: new Dictionary<string, object?> { ["commandId"] = command.CommandId, ["status"] = outcome.Status.ToString() });
        }).WithName("SendCommand")
            .WithSummary("Sends a command to a device (the body is its payload, any content type). 202 with the command and a Location; "
                + "with wait, 200 with the device's answer, or 504 when the wait ends first (the command stays queued until its TTL).")
            .WithMetadata(new RequestBodyDescription(typeof(Stream), true, ["application/octet-stream", "application/json", "text/plain"]))
            .Produces<CommandResponse>(StatusCodes.Status200OK)
            .Produces<CommandResponse>(StatusCodes.Status202Accepted)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status504GatewayTimeout);

        commands.MapGet("/commands/{commandId}", async (string commandId, HttpContext context) =>
            await context.RequestServices.GetRequiredService<CommandService>().GetAsync(commandId, context.RequestAborted).ConfigureAwait(false) is { } command
                ? Json(CommandView(command))
                : NotFound("Command", commandId))
            .WithName("GetCommand")
            .WithSummary("Gets a command's status (Queued, Delivered, Completed, Failed, Expired, DeadLettered), delivery count and answer.")
            .Produces<CommandResponse>()
            .ProducesProblem(StatusCodes.Status404NotFound);
    }

    /// <summary>
    /// Why <paramref name="replySessionId"/> cannot be used, or null: it names the session of a session reply queue (where
    /// a queue without sessions would drop it), so it needs one, and it is at most 128 characters.
    /// </summary>
    private static string? ValidateReplySession(string? replyQueue, string? replySessionId, IQueueStore queues)
    {
        if (replySessionId is null)
        {
            return null;
        }

        if (replySessionId.Length is 0 or > 128)
        {
            return "replySessionId must have 1 to 128 characters.";
        }

        if (replyQueue is null)
        {
            return "replySessionId needs a replyQueue (the queue whose session receives the answer).";
        }

        return queues.FindQueue(replyQueue) is { RequiresSession: false }
            ? $"replySessionId needs a replyQueue that requires sessions; '{replyQueue}' does not (create it with requiresSession: true)."
            : null;
    }

    private static string CommandLocation(HttpRequest request, string commandId)
    {
        // The API group's prefix (normally /api) is whatever precedes /devices/ in this request's path.
        var path = request.PathBase.Add(request.Path).Value ?? "";
        var prefix = path[..Math.Max(0, path.LastIndexOf("/devices/", StringComparison.Ordinal))];
        return $"{prefix}/commands/{Uri.EscapeDataString(commandId)}";
    }

    private static CommandResponse CommandView(CommandRecord command) => new(
        command.CommandId,
        command.DeviceId,
        command.Name,
        command.MessageId,
        command.Status.ToString(),
        command.DeliveryCount,
        FromUnixMs(command.CreatedAt),
        FromUnixMs(command.UpdatedAt),
        command.ExpiresAt == long.MaxValue ? null : FromUnixMs(command.ExpiresAt),
        command.Answer is { } answer ? BodyView(answer) : null,
        command.AnswerContentType,
        command.Reason,
        command.Description,
        command.ReplyQueue,
        command.ReplySessionId);

    /// <summary>A body as JSON when it parses, else as a UTF-8 string when it decodes, else base64.</summary>
    private static object BodyView(byte[] body)
    {
        try
        {
            return JsonSerializer.Deserialize<JsonElement>(body);
        }
        catch (JsonException)
        {
            try
            {
                return new System.Text.UTF8Encoding(false, true).GetString(body);
            }
            catch (System.Text.DecoderFallbackException)
            {
                return new { Base64 = Convert.ToBase64String(body) };
            }
        }
    }

    private static async Task<(byte[] Payload, bool TooLarge)> ReadPayloadAsync(HttpRequest request, int maxBytes)
    {
        if (request.ContentLength > maxBytes)
        {
            return ([], true);
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, request.HttpContext.RequestAborted).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > maxBytes)
            {
                return ([], true);
            }

            buffer.Write(chunk, 0, read);
        }

        return (buffer.ToArray(), false);
    }
}
