using Iot.Routing.ClaimCheck;
using Iot.Routing.Queues;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Iot.Routing.Hosting;

/// <summary>The claim check in the queue API: sends store large bodies as blobs; receives resolve them or renew their URL.</summary>
public static partial class RoutingEndpointRouteBuilderExtensions
{
    /// <summary>A body within the queue limit (no claim check).</summary>
    private static async Task<(byte[]? Payload, ClaimCheckReference? Reference, bool TooLarge)> ReadQueueBodyAsync(HttpRequest request)
    {
        var (payload, tooLarge) = await ReadPayloadAsync(request, MaxQueueMessageBytes).ConfigureAwait(false);
        return (payload, null, tooLarge);
    }

    /// <summary>
    /// Sends <paramref name="message"/>; its blob (committed before) is deleted again when the send fails or the message
    /// is a duplicate that was not stored, so that only a stored message holds a blob.
    /// </summary>
    private static async Task<IReadOnlyList<SendResult>> SendClaimCheckedAsync(IQueueStore store, string queue, QueueMessage message,
        ClaimCheckReference? reference, ClaimCheckService? claims, CancellationToken cancellationToken)
    {
        if (reference is null || claims is null)
        {
            return await store.SendAsync(queue, [message], cancellationToken).ConfigureAwait(false);
        }

        IReadOnlyList<SendResult> results;
        try
        {
            results = await store.SendAsync(queue, [message], cancellationToken).ConfigureAwait(false);
        }
        catch (Exception)
        {
            await claims.DiscardAsync(reference.Id).ConfigureAwait(false);
            throw;
        }

        if (results[0].Duplicate)
        {
            await claims.DiscardAsync(reference.Id).ConfigureAwait(false);
        }

        return results;
    }

    /// <summary>
    /// Claim-checked messages among <paramref name="messages"/> with their payload as the body (<paramref name="resolve"/>,
    /// when the blob is still there) or their reference with a URL valid from now.
    /// </summary>
    private static async Task<IReadOnlyList<ReceivedQueueMessage>> WithClaimChecksAsync(IReadOnlyList<ReceivedQueueMessage> messages, bool resolve, HttpContext context)
    {
        if (context.RequestServices.GetService<ClaimCheckService>() is not { Options.Enabled: true } claims)
        {
            return messages;
        }

        List<ReceivedQueueMessage>? result = null;
        for (var i = 0; i < messages.Count; i++)
        {
            var message = messages[i];
            if (message.ContentType != ClaimCheckReference.ContentType || !ClaimCheckReference.TryParse(message.Body, out var reference))
            {
                result?.Add(message);
                continue;
            }

            result ??= [.. messages.Take(i)];
            var payload = resolve ? await claims.ResolveAsync(reference!.Id, context.RequestAborted).ConfigureAwait(false) : null;
            result.Add(payload is not null
                ? message.WithBody(payload, reference!.PayloadContentType)
                : message.WithBody(claims.CreateReference(reference!.Id, reference.Size, reference.PayloadContentType).ToJson(), message.ContentType));
        }

        return result ?? messages;
    }
}
