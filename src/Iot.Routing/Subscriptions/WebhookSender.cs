using System.Net;
using System.Net.Http.Headers;

namespace Iot.Routing.Subscriptions;

/// <summary>What happened to one webhook request.</summary>
internal enum WebhookResult
{
    Delivered,
    Retry,
    DeadLetter,

    /// <summary>The destination's address is refused by <see cref="WebhookAddressPolicy"/>; nothing was sent.</summary>
    Refused,
}

/// <summary>Sends webhook requests through <see cref="IHttpClientFactory"/> and classifies the outcome.</summary>
internal sealed class WebhookSender(IHttpClientFactory clients)
{
    public const string ClientName = "Iot.Routing.Webhooks";
    private static readonly MediaTypeHeaderValue Single = MediaTypeHeaderValue.Parse("application/cloudevents+json; charset=utf-8");
    private static readonly MediaTypeHeaderValue Batch = MediaTypeHeaderValue.Parse("application/cloudevents-batch+json; charset=utf-8");

    /// <summary>
    /// The CloudEvents webhook validation handshake: OPTIONS with <c>WebHook-Request-Origin</c>. Delivered when the
    /// endpoint allowed the origin, Refused when its address is refused, otherwise Retry.
    /// </summary>
    public async Task<(WebhookResult Result, string Outcome)> ValidateAsync(Uri endpoint, string origin, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Options, endpoint);
        request.Headers.TryAddWithoutValidation("WebHook-Request-Origin", origin);
        try
        {
            using var response = await clients.CreateClient(ClientName).SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return (WebhookResult.Retry, $"validation handshake: {Describe(response.StatusCode)}");
            }

            bool allowed = response.Headers.TryGetValues("WebHook-Allowed-Origin", out var values)
                && values.Any(v => v == "*" || string.Equals(v, origin, StringComparison.OrdinalIgnoreCase));
            return allowed
                ? (WebhookResult.Delivered, "validated")
                : (WebhookResult.Retry, "validation handshake: WebHook-Allowed-Origin missing or different");
        }
        catch (Exception ex) when (IsTransient(ex, cancellationToken))
        {
            return (WebhookDestinationRefusedException.Find(ex) is null ? WebhookResult.Retry : WebhookResult.Refused, "validation handshake: " + Describe(ex));
        }
    }

    /// <summary>POSTs events: one structured CloudEvent, or a JSON array when <paramref name="batch"/>.</summary>
    public async Task<(WebhookResult Result, string Outcome)> SendAsync(Uri endpoint, IReadOnlyList<byte[]> events, bool batch,
        int attempt, CancellationToken cancellationToken)
    {
        byte[] body;
        if (batch)
        {
            using var buffer = new MemoryStream();
            buffer.WriteByte((byte)'[');
            for (int i = 0; i < events.Count; i++)
            {
                if (i > 0)
                {
                    buffer.WriteByte((byte)',');
                }

                buffer.Write(events[i]);
            }

            buffer.WriteByte((byte)']');
            body = buffer.ToArray();
        }
        else
        {
            body = events[0];
        }

        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = batch ? Batch : Single;
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = content };
        request.Headers.TryAddWithoutValidation("Iot-Delivery-Attempt", attempt.ToString(System.Globalization.CultureInfo.InvariantCulture));
        try
        {
            using var response = await clients.CreateClient(ClientName).SendAsync(request, cancellationToken).ConfigureAwait(false);
            int status = (int)response.StatusCode;
            var outcome = Describe(response.StatusCode);
            return status switch
            {
                >= 200 and <= 204 => (WebhookResult.Delivered, outcome),
                400 or 401 or 403 or 413 => (WebhookResult.DeadLetter, outcome),
                _ => (WebhookResult.Retry, outcome),
            };
        }
        catch (Exception ex) when (IsTransient(ex, cancellationToken))
        {
            return (WebhookDestinationRefusedException.Find(ex) is null ? WebhookResult.Retry : WebhookResult.Refused, Describe(ex));
        }
    }

    // Network errors and timeouts are the endpoint's failures; cancellation of the service is not.
    private static bool IsTransient(Exception ex, CancellationToken cancellationToken) =>
        ex is HttpRequestException || (ex is TaskCanceledException && !cancellationToken.IsCancellationRequested);

    private static string Describe(Exception ex) => ex is TaskCanceledException ? "timeout"
        : WebhookDestinationRefusedException.Find(ex) is { } refused ? "destination not allowed: " + refused.Message
        : "network error: " + ex.Message;

    // Redirects are not followed (see WebhookConnector.CreateHandler): say so, so the dead letter explains itself.
    private static string Describe(HttpStatusCode status) => (int)status is >= 300 and < 400
        ? $"HTTP {(int)status} (redirects are not followed)"
        : $"HTTP {(int)status}";
}
