using System.CommandLine;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Iot.Cli.Output;

namespace Iot.Cli.Commands;

/// <summary>
/// <c>iot queues resubmit</c>: moves dead letters back into their queue, as Service Bus Explorer's "resubmit" does,
/// out of the API's own operations: receive from the dead-letter queue in peek-lock, send a copy to the queue, then
/// complete the dead letter. At least once: a run cut short between a send and its complete leaves the dead letter
/// to be resubmitted again after its lock expires.
/// </summary>
internal static class QueueResubmit
{
    private const int Batch = 100;

    /// <summary>The <c>resubmit</c> command of <paramref name="queue"/>.</summary>
    public static Command Create(CliActions cli, Argument<string> queue)
    {
        var max = new Option<int>("--max") { Description = "How many dead letters at most (1-100000).", DefaultValueFactory = _ => 100 };
        max.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() is < 1 or > 100_000)
            {
                r.AddError("--max must be between 1 and 100000.");
            }
        });
        var keepMessageId = new Option<bool>("--keep-message-id")
        {
            Description = "Send with the original messageId; one still in the duplicate-detection window is then not stored and its dead letter stays.",
        };
        var command = new Command("resubmit",
            "Send dead letters back to their queue (oldest first; body, content type, session, subject, correlation id, reply-to and priority are kept; "
            + "application properties and the TTL are not) and remove them from the dead-letter queue.");
        command.Arguments.Add(queue);
        command.Options.Add(max);
        command.Options.Add(keepMessageId);
        return cli.Run(command, async (c, ct) =>
        {
            var name = c.Get(queue);
            var results = new List<Resubmitted>();
            var kept = 0;
            while (results.Count + kept < c.Get(max))
            {
                var take = Math.Min(Batch, c.Get(max) - results.Count - kept);
                var received = await c.Api.SendJsonAsync(HttpMethod.Post,
                    $"{QueuesGroup.Path(name)}/deadletter:receive?maxMessages={take.ToString(CultureInfo.InvariantCulture)}", null, ct).ConfigureAwait(false);
                var messages = CliJson.Items(CliJson.Get(received.Json, "value")).ToList();
                if (messages.Count == 0)
                {
                    break;
                }

                foreach (var message in messages)
                {
                    var outcome = await ResubmitAsync(c, name, message, c.Get(keepMessageId), ct).ConfigureAwait(false);
                    if (outcome is null)
                    {
                        kept++;
                    }
                    else
                    {
                        results.Add(outcome);
                    }
                }
            }

            if (c.Json)
            {
                c.WriteJson(new { Resubmitted = results.Count, Kept = kept, Messages = results });
                return ExitCodes.Ok;
            }

            var table = new Table("dead-letter seq", "new seq", "message id", "reason");
            foreach (var r in results)
            {
                table.Add(r.DeadLetterSequenceNumber.ToString(CultureInfo.InvariantCulture), r.SequenceNumber.ToString(CultureInfo.InvariantCulture), r.MessageId, r.DeadLetterReason);
            }

            if (table.Count > 0)
            {
                table.Write(c.Out);
            }

            c.Out.WriteLine(kept == 0
                ? $"Resubmitted {results.Count} dead letter(s) to '{name}'."
                : $"Resubmitted {results.Count} dead letter(s) to '{name}'; {kept} kept (their messageId is still in the duplicate-detection window).");
            return ExitCodes.Ok;
        });
    }

    /// <summary>Sends one dead letter back and completes it; null when the queue saw it as a duplicate (it stays a dead letter).</summary>
    private static async Task<Resubmitted?> ResubmitAsync(CliContext c, string queue, JsonElement message, bool keepMessageId, CancellationToken ct)
    {
        var contentType = CliJson.Text(message, "contentType");
        var content = new ByteArrayContent(BodyBytes(CliJson.Get(message, "body"), contentType));
        content.Headers.ContentType = contentType is not null && MediaTypeHeaderValue.TryParse(contentType, out var type) ? type : new MediaTypeHeaderValue("application/octet-stream");
        var path = Http.Query.With(QueuesGroup.Path(queue) + "/messages",
            ("messageId", keepMessageId ? CliJson.Text(message, "messageId") : null), ("sessionId", CliJson.Text(message, "sessionId")),
            ("subject", CliJson.Text(message, "subject")), ("correlationId", CliJson.Text(message, "correlationId")),
            ("replyTo", CliJson.Text(message, "replyTo")), ("priority", CliJson.Text(message, "priority")));
        var sent = await c.Api.SendAsync(HttpMethod.Post, path, content, ct).ConfigureAwait(false);
        if (CliJson.Get(sent.Json, "duplicate").ValueKind == JsonValueKind.True)
        {
            // Not stored: the dead letter stays, locked until its lock expires, so that this run does not receive it again.
            return null;
        }

        await c.Api.SendJsonAsync(HttpMethod.Post, $"{QueuesGroup.Path(queue)}/messages:complete", new { LockTokens = new[] { CliJson.Text(message, "lockToken") } }, ct)
            .ConfigureAwait(false);
        return new Resubmitted(
            CliJson.Long(message, "sequenceNumber") ?? 0, CliJson.Long(sent.Json, "sequenceNumber") ?? 0, CliJson.Text(message, "messageId"), CliJson.Text(message, "deadLetterReason"));
    }

    /// <summary>
    /// The bytes of a body as the API shows it: JSON when it parsed (a JSON string stays quoted when the content type is
    /// JSON), else the text, else <c>{"base64": ...}</c> for bytes that are not UTF-8.
    /// </summary>
    internal static byte[] BodyBytes(JsonElement body, string? contentType)
    {
        var json = contentType?.Contains("json", StringComparison.OrdinalIgnoreCase) == true;
        return body.ValueKind switch
        {
            JsonValueKind.Undefined or JsonValueKind.Null when !json => [],
            JsonValueKind.String when !json => Encoding.UTF8.GetBytes(body.GetString()!),
            JsonValueKind.Object when !json && body.EnumerateObject().Count() == 1 && body.TryGetProperty("base64", out var b64) && b64.ValueKind == JsonValueKind.String
                => Convert.FromBase64String(b64.GetString()!),
            _ => Encoding.UTF8.GetBytes(body.GetRawText()),
        };
    }

    /// <summary>One dead letter sent back: its old and new sequence numbers.</summary>
    internal sealed record Resubmitted(long DeadLetterSequenceNumber, long SequenceNumber, string? MessageId, string? DeadLetterReason);
}
