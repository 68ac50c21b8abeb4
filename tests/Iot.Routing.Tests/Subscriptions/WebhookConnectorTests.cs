using System.Net;
using System.Net.Sockets;
using System.Text;
using Iot.Routing.Subscriptions;

namespace Iot.Routing.Tests.Subscriptions;

/// <summary>
/// The connect-time check through a real <see cref="HttpClient"/> on the connector's handler, with a resolver the test
/// controls (as DNS would answer) and a real listener on 127.0.0.1 that counts the connections it accepted.
/// </summary>
public sealed class WebhookConnectorTests : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private int _accepted;

    public WebhookConnectorTests()
    {
        _listener.Start();
        _ = ServeAsync();
    }

    private int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public void Dispose() => _listener.Stop();

    [Fact]
    public async Task NameResolvingToLoopback_Refused_WithoutConnecting()
    {
        using var http = Client(new WebhookAddressPolicy(false), "hooks.example.com", IPAddress.Loopback);
        var ex = await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync(new Uri($"http://hooks.example.com:{Port}/")));
        var refused = WebhookDestinationRefusedException.Find(ex);
        Assert.NotNull(refused);
        Assert.Contains("hooks.example.com resolves to 127.0.0.1", refused.Message, StringComparison.Ordinal);
        Assert.Contains("loopback", refused.Message, StringComparison.Ordinal);
        Assert.Equal(0, Volatile.Read(ref _accepted));
    }

    [Fact]
    public async Task NameResolvingToPublicAndMetadata_RefusedAsAWhole()
    {
        using var http = Client(new WebhookAddressPolicy(false), "mixed.example.com", IPAddress.Parse("93.184.216.34"), IPAddress.Parse("169.254.169.254"));
        var ex = await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync(new Uri($"http://mixed.example.com:{Port}/")));
        Assert.Contains("link-local", WebhookDestinationRefusedException.Find(ex)!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LiteralMappedLoopback_Refused()
    {
        using var http = Client(new WebhookAddressPolicy(false), "unused");
        var ex = await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync(new Uri($"http://[::ffff:127.0.0.1]:{Port}/")));
        Assert.NotNull(WebhookDestinationRefusedException.Find(ex));
        Assert.Equal(0, Volatile.Read(ref _accepted));
    }

    [Fact]
    public async Task AllowedNetwork_ConnectsToTheCheckedAddress()
    {
        var policy = new WebhookAddressPolicy(false, WebhookAddressPolicy.ParseNetworks(["127.0.0.1/32"]));
        using var http = Client(policy, "hooks.example.com", IPAddress.Loopback);
        using var response = await http.GetAsync(new Uri($"http://hooks.example.com:{Port}/"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, Volatile.Read(ref _accepted));
    }

    [Fact]
    public async Task Rebinding_EachConnectionResolvesAndChecksAgain()
    {
        // The first answer is allowed, the next is the metadata address: the second connection is refused.
        var answers = new Queue<IPAddress>([IPAddress.Loopback, IPAddress.Parse("169.254.169.254")]);
        var policy = new WebhookAddressPolicy(false, WebhookAddressPolicy.ParseNetworks(["127.0.0.1/32"]));
        var connector = new WebhookConnector(policy, (_, _) => Task.FromResult(new[] { answers.Dequeue() }));
        var handler = connector.CreateHandler();
        handler.PooledConnectionLifetime = TimeSpan.Zero;
        using var http = new HttpClient(handler);
        using (var first = await http.GetAsync(new Uri($"http://rebind.example.com:{Port}/")))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        var ex = await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync(new Uri($"http://rebind.example.com:{Port}/")));
        Assert.Contains("169.254.169.254", WebhookDestinationRefusedException.Find(ex)!.Message, StringComparison.Ordinal);
        Assert.Equal(1, Volatile.Read(ref _accepted));
    }

    [Fact]
    public void Handler_DoesNotFollowRedirectsOrUseAProxy()
    {
        using var handler = new WebhookConnector(new WebhookAddressPolicy(false)).CreateHandler();
        Assert.False(handler.AllowAutoRedirect);
        Assert.False(handler.UseProxy);
        Assert.NotNull(handler.ConnectCallback);
    }

    private static HttpClient Client(WebhookAddressPolicy policy, string name, params IPAddress[] addresses)
    {
        var connector = new WebhookConnector(policy, (host, _) =>
            Task.FromResult(host == name ? addresses : throw new SocketException((int)SocketError.HostNotFound)));
        return new HttpClient(connector.CreateHandler());
    }

    // A minimal HTTP/1.1 server: one 200 answer per connection, then close.
    private async Task ServeAsync()
    {
        while (true)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync();
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            Interlocked.Increment(ref _accepted);
            using (socket)
            {
                var buffer = new byte[4096];
                int read = 0;
                while (read < buffer.Length && !Encoding.ASCII.GetString(buffer, 0, read).Contains("\r\n\r\n", StringComparison.Ordinal))
                {
                    int n = await socket.ReceiveAsync(buffer.AsMemory(read));
                    if (n == 0)
                    {
                        break;
                    }

                    read += n;
                }

                await socket.SendAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
            }
        }
    }
}
