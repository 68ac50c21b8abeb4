using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Iot.Streams.Sinks.Influx;

namespace Iot.Streams.Tests.Sinks;

/// <summary>
/// The InfluxDB 2.x write API as documented (<c>POST /api/v2/write?org=&amp;bucket=&amp;precision=</c>,
/// <c>Authorization: Token</c>, gzip), checked on the wire by an HTTP listener: Debian ships only InfluxDB 1.x
/// (which the other sink tests use for real) and there is no Docker engine here for an InfluxDB 2 container.
/// </summary>
public sealed class InfluxV2WireFormatTests
{
    [Fact]
    public async Task WriteAsync_Version2_PostsGzippedLineProtocolWithOrgBucketAndToken()
    {
        var port = FreePort();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var request = Task.Run(async () =>
        {
            var context = await listener.GetContextAsync();
            using var gzip = new GZipStream(context.Request.InputStream, CompressionMode.Decompress);
            using var reader = new StreamReader(gzip, Encoding.UTF8);
            var body = await reader.ReadToEndAsync();
            var seen = (context.Request.HttpMethod, context.Request.Url!.AbsolutePath, context.Request.Url.Query,
                context.Request.Headers["Authorization"], context.Request.Headers["Content-Encoding"], body);
            context.Response.StatusCode = 204;
            context.Response.Close();
            return seen;
        });

        using var http = new HttpClient();
        var writer = new InfluxWriter(http, new InfluxSinkOptions
        {
            Url = new Uri($"http://127.0.0.1:{port}"),
            Version = 2,
            Org = "acme",
            Bucket = "iot/raw",
            Token = "secret-token",
            Gzip = true,
        });

        var (outcome, _) = await writer.WriteAsync("telemetry,key=d1 temperature=21.5 1767225600000\n", CancellationToken.None);
        var seen = await request.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(WriteOutcome.Accepted, outcome);
        Assert.Equal("POST", seen.HttpMethod);
        Assert.Equal("/api/v2/write", seen.AbsolutePath);
        Assert.Equal("?org=acme&bucket=iot%2Fraw&precision=ms", seen.Query);
        Assert.Equal("Token secret-token", seen.Item4);
        Assert.Equal("gzip", seen.Item5);
        Assert.Equal("telemetry,key=d1 temperature=21.5 1767225600000\n", seen.body);
    }

    private static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }
}
