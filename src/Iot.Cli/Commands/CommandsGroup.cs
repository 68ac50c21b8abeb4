using System.CommandLine;
using System.Net.Http.Headers;
using System.Text.Json;
using Iot.Cli.Http;

namespace Iot.Cli.Commands;

/// <summary>
/// <c>iot commands</c>: device commands (<c>POST /api/devices/{id}/commands/{name}</c>, <c>GET /api/commands/{id}</c>):
/// send one, wait for its answer, show its status.
/// </summary>
internal sealed class CommandsGroup : CommandGroup
{
    private static readonly TimeSpan FirstPoll = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxPoll = TimeSpan.FromSeconds(1);

    /// <inheritdoc/>
    public override Command Create(CliActions cli)
    {
        var device = CliOptions.Text("device", "The device id.");
        var name = CliOptions.Text("name", "The command name (one MQTT topic level), e.g. setTarget.");
        var commandId = CliOptions.Text("command-id", "The command id that send printed.");
        var payload = new Option<string?>("--payload", "-d")
        {
            Description = "The payload: the text itself, @file for a file's bytes, - for stdin (default: empty).",
            HelpName = "body",
        };
        var contentType = new Option<string?>("--content-type") { Description = "The payload's Content-Type (default: application/json when it is JSON, else application/octet-stream)." };
        var ttl = CliOptions.OptionalDuration("--ttl", "Time to live: undelivered or unanswered after it, the command expires (default Iot:Commands:DefaultTimeToLive).");
        var messageId = new Option<string?>("--message-id") { Description = "Duplicate detection: the same id for the same device within the window returns the original command." };
        var sendWait = CliOptions.OptionalDuration("--wait", "Wait this long for the device's answer (at most Iot:Commands:MaxWait); exit code 4 when it does not come in time.");
        var replyQueue = new Option<string?>("--reply-queue") { Description = "An existing queue that also receives the answer." };
        var replySession = new Option<string?>("--reply-session-id") { Description = "The session id of the answer in a session reply queue." };
        var wait = CliOptions.Duration("--wait", "How long to wait for an answer or another final status.", TimeSpan.FromSeconds(30));

        return Command("commands", "Device commands: send, wait for the answer, show the status.",
            cli.Run(Command("send", "Send a command to a device (queued and delivered over MQTT, tracked until answered).",
                device, name, payload, contentType, ttl, messageId, sendWait, replyQueue, replySession), async (c, ct) =>
            {
                var body = await BodyInput.ReadAsync(c.Get(payload), ct).ConfigureAwait(false) ?? [];
                var content = new ByteArrayContent(body);
                content.Headers.ContentType = new MediaTypeHeaderValue(c.Get(contentType) ?? (IsJson(body) ? "application/json" : "application/octet-stream"));
                var waitFor = c.Get(sendWait);
                var path = Query.With($"/api/devices/{Query.Segment(c.Get(device))}/commands/{Query.Segment(c.Get(name))}",
                    ("ttl", c.Get(ttl) is { } t ? Durations.ToSeconds(t) : null), ("messageId", c.Get(messageId)),
                    ("wait", waitFor is { } w ? Durations.ToSeconds(w) : null), ("replyQueue", c.Get(replyQueue)), ("replySessionId", c.Get(replySession)));
                ApiResponse response;
                try
                {
                    response = await c.Api.SendAsync(HttpMethod.Post, path, content, ct, waitFor ?? TimeSpan.Zero).ConfigureAwait(false);
                }
                catch (ApiException ex) when (ex.Status == 504 && ex.Response is { } timedOut)
                {
                    // The API's own "no answer yet": the command stays queued; say how to keep waiting.
                    c.PrintProperties(timedOut, json => [("Command id", CliJson.Text(json, "commandId")), ("Status", CliJson.Text(json, "status"))]);
                    await c.Error.WriteLineAsync($"{ex.Detail} Keep waiting with: iot commands wait {CliJson.Text(timedOut.Json, "commandId")}").ConfigureAwait(false);
                    return ExitCodes.NotFinished;
                }

                c.PrintProperties(response, Properties);
                return waitFor is null ? ExitCodes.Ok : ExitCode(response.Json);
            }),
            cli.Run(Command("status", "Show a command: status, deliveries, answer.", commandId), async (c, ct) =>
                c.PrintProperties(await c.Api.GetAsync(CommandPath(c.Get(commandId)), ct).ConfigureAwait(false), Properties)),
            cli.Run(Command("wait", "Wait until a command is answered or ends (Completed, Failed, Expired, DeadLettered); exit code 0, 5, or 4 when the wait ends first.",
                commandId, wait), WaitAsync(commandId, wait)));
    }

    private static Func<CliContext, CancellationToken, Task<int>> WaitAsync(Argument<string> commandId, Option<TimeSpan> wait) => async (c, ct) =>
    {
        var deadline = c.Time.GetTimestamp() + (long)(c.Get(wait).TotalSeconds * c.Time.TimestampFrequency);
        var interval = FirstPoll;
        while (true)
        {
            var response = await c.Api.GetAsync(CommandPath(c.Get(commandId)), ct).ConfigureAwait(false);
            var remaining = c.Time.GetElapsedTime(c.Time.GetTimestamp(), deadline);
            if (IsFinal(response.Json) || remaining <= TimeSpan.Zero)
            {
                c.PrintProperties(response, Properties);
                if (!IsFinal(response.Json))
                {
                    await c.Error.WriteLineAsync($"The command is still {CliJson.Text(response.Json, "status")} after {Durations.ToSeconds(c.Get(wait))} s.").ConfigureAwait(false);
                }

                return ExitCode(response.Json);
            }

            // Polls GET /api/commands/{id} (the API has no long poll for an existing command): 0.1 s, doubling to 1 s.
            await Task.Delay(interval < remaining ? interval : remaining, c.Time, ct).ConfigureAwait(false);
            interval = TimeSpan.FromTicks(Math.Min(interval.Ticks * 2, MaxPoll.Ticks));
        }
    };

    private static string CommandPath(string commandId) => "/api/commands/" + Query.Segment(commandId);

    private static bool IsFinal(JsonElement command) => CliJson.Text(command, "status") is "Completed" or "Failed" or "Expired" or "DeadLettered";

    private static int ExitCode(JsonElement command) => CliJson.Text(command, "status") switch
    {
        "Completed" => ExitCodes.Ok,
        "Failed" or "Expired" or "DeadLettered" => ExitCodes.CommandUnsuccessful,
        _ => ExitCodes.NotFinished,
    };

    private static bool IsJson(byte[] body)
    {
        if (body.Length == 0)
        {
            return false;
        }

        try
        {
            using var document = JsonDocument.Parse(body);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static IEnumerable<(string, string?)> Properties(JsonElement command) =>
    [
        ("Command id", CliJson.Text(command, "commandId")),
        ("Device", CliJson.Text(command, "deviceId")),
        ("Name", CliJson.Text(command, "name")),
        ("Message id", CliJson.Text(command, "messageId")),
        ("Status", CliJson.Text(command, "status")),
        ("Deliveries", CliJson.Text(command, "deliveryCount")),
        ("Created", CliJson.Time(command, "createdAt")),
        ("Updated", CliJson.Time(command, "updatedAt")),
        ("Expires", CliJson.Text(command, "expiresAt") is null ? null : CliJson.Time(command, "expiresAt")),
        ("Answer", CliJson.Get(command, "answer").ValueKind is JsonValueKind.Undefined or JsonValueKind.Null ? null : CliJson.Show(command, "answer")),
        ("Answer type", CliJson.Text(command, "answerContentType")),
        ("Dead-letter reason", CliJson.Text(command, "deadLetterReason")),
        ("Dead-letter detail", CliJson.Text(command, "deadLetterErrorDescription")),
        ("Reply queue", CliJson.Text(command, "replyQueue")),
    ];
}
