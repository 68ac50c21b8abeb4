using System.Net;
using System.Net.Http.Headers;

namespace Iot.Routing.Subscriptions;

/// <summary>What happened to one webhook request.</summary>
internal enum WebhookResult
{
    Delivered,
    Retry,
    DeadLetter,
}

/// <summary>Sends webhook requests through <see cref="IHttpClientFactory"/> and classifies the outcome.</summary>
internal sealed class WebhookSender(IHttpClientFactory clients)
{
    public const string ClientName = "Iot.Routing.Webhooks";
    private static readonly MediaTypeHeaderValue Single = MediaTypeHeaderValue.Parse("application/cloudevents+json; charset=utf-8");
    private static readonly MediaTypeHeaderValue Batch = MediaTypeHeaderValue.Parse("application/cloudevents-batch+json; charset=utf-8");

    /// <summary>The CloudEvents webhook validation handshake: OPTIONS with <c>WebHook-Request-Origin</c>.</summary>
    public async Task<(bool Allowed, string Outcome)> ValidateAsync(Uri endpoint, string origin, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Options, endpoint);
        request.Headers.TryAddWithoutValidation("WebHook-Request-Origin", origin);
        try
        {
            using var response = await clients.CreateClient(ClientName).SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return (false, $"validation handshake: HTTP {(int)response.StatusCode}");
            }

            bool allowed = response.Headers.TryGetValues("WebHook-Allowed-Origin", out var values)
                && values.Any(v => v == "*" || string.Equals(v, origin, StringComparison.OrdinalIgnoreCase));
            return (allowed, allowed ? "validated" : "validation handshake: WebHook-Allowed-Origin missing or different");
        }
        catch (Exception ex) when (IsTransient(ex, cancellationToken))
        {
            return (false, "validation handshake: " + Describe(ex));
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
            var outcome = $"HTTP {status}";
            return status switch
            {
                >= 200 and <= 204 => (WebhookResult.Delivered, outcome),
                400 or 401 or 403 or 413 => (WebhookResult.DeadLetter, outcome),
                _ => (WebhookResult.Retry, outcome),
            };
        }
        catch (Exception ex) when (IsTransient(ex, cancellationToken))
        {
            return (WebhookResult.Retry, Describe(ex));
        }
    }

    // Network errors and timeouts are the endpoint's failures; cancellation of the service is not.
    private static bool IsTransient(Exception ex, CancellationToken cancellationToken) =>
        ex is HttpRequestException || (ex is TaskCanceledException && !cancellationToken.IsCancellationRequested);

    private static string Describe(Exception ex) => ex is TaskCanceledException ? "timeout" : "network error: " + ex.Message;
}
