using System.Net;
using System.Net.Sockets;

namespace Iot.Routing.Subscriptions;

/// <summary>
/// The <see cref="SocketsHttpHandler.ConnectCallback"/> of the webhook client: resolves the host, checks every address
/// with <see cref="WebhookAddressPolicy"/>, and connects only to the addresses it checked. A name that resolves to a
/// refused address (even one among allowed ones) is refused as a whole, and since the connection goes to the checked
/// address, a DNS answer that changes between the check and the connection (rebinding) cannot redirect it.
/// </summary>
internal sealed class WebhookConnector
{
    private readonly WebhookAddressPolicy _policy;
    private readonly Func<string, CancellationToken, Task<IPAddress[]>> _resolve;

    public WebhookConnector(WebhookAddressPolicy policy, Func<string, CancellationToken, Task<IPAddress[]>>? resolve = null)
    {
        ArgumentNullException.ThrowIfNull(policy);
        _policy = policy;
        _resolve = resolve ?? Dns.GetHostAddressesAsync;
    }

    /// <summary>A handler for the webhook client: this connector, and no automatic redirects (see remarks).</summary>
    /// <remarks>
    /// A redirect is not followed: 301 and 302 turn a POST into a GET without the events, so "delivered" would be a
    /// lie, and a redirect to a refused address must not be a way around the check. A 3xx answer is a failed attempt.
    /// </remarks>
    public SocketsHttpHandler CreateHandler() => new()
    {
        AllowAutoRedirect = false,
        ConnectCallback = ConnectAsync,
        UseProxy = false,
    };

    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var endPoint = context.DnsEndPoint;
        var host = endPoint.Host.Trim('[', ']');
        var addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await _resolve(host, cancellationToken).ConfigureAwait(false);
        if (addresses.Length == 0)
        {
            throw new WebhookDestinationRefusedException($"{host} resolves to no address.");
        }

        foreach (var address in addresses)
        {
            if (_policy.Check(address) is { } reason)
            {
                var target = address.ToString() == host ? host : $"{host} resolves to {address}, which";
                throw new WebhookDestinationRefusedException(
                    $"{target} is a {reason} address; webhooks may not reach it (Iot:Routing:WebhookAllowPrivateNetworks, Iot:Routing:WebhookAllowedNetworks).");
            }
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, endPoint.Port, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}

/// <summary>A webhook destination whose address the <see cref="WebhookAddressPolicy"/> refuses.</summary>
internal sealed class WebhookDestinationRefusedException : Exception
{
    public WebhookDestinationRefusedException()
    {
    }

    public WebhookDestinationRefusedException(string message)
        : base(message)
    {
    }

    public WebhookDestinationRefusedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The refusal behind <paramref name="exception"/> (an <see cref="HttpRequestException"/> wraps it), if any.</summary>
    public static WebhookDestinationRefusedException? Find(Exception? exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is WebhookDestinationRefusedException refused)
            {
                return refused;
            }
        }

        return null;
    }
}
