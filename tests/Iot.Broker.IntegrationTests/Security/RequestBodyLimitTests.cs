using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Iot.TestUtilities;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Security;

/// <summary>
/// A body over <c>Iot:Http:MaxRequestBodyBytes</c> is refused with a 413 the client can read, and the connection
/// survives the refusal: the client in these tests writes its body only after it has read the answer, the order a slow
/// client on a busy machine sees. Before, Kestrel closed the connection with the body unread; the kernel's reset then
/// discarded the answer (the CI saw "The response ended prematurely" from HttpClient), and the next request here found
/// the connection closed.
/// </summary>
[Collection(BrokerProcessCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class RequestBodyLimitTests(ITestOutputHelper output)
{
    private const int MaxBody = 4096;

    [Fact]
    public async Task BodyOverTheLimit_Answered413BeforeItIsSent_ThenReadAndDropped_ConnectionKept()
    {
        using var dataDir = new TempDirectory("iot-body-limit");
        await using var broker = await BrokerProcess.StartAsync(dataDir.Path, $"--Iot:Http:MaxRequestBodyBytes={MaxBody}");
        try
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync("127.0.0.1", broker.HttpPort);
            var stream = tcp.GetStream();
            var reader = new HttpResponseReader(stream);
            var body = new byte[2 * MaxBody];
            body.AsSpan().Fill((byte)'x');

            // A declared length over the limit: answered before one byte of the body is sent.
            await WriteAsync(stream, $"POST /api/devices HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n");
            var (status, text) = await reader.ReadAsync();
            AssertProblem(413, status, text);
            await stream.WriteAsync(body);

            (status, _) = await SendGetAsync(stream, reader, "/healthz");
            Assert.Equal(200, status);

            // Chunked: refused at the limit while the body is read; the rest is sent after the answer.
            await WriteAsync(stream, "POST /api/events HTTP/1.1\r\nHost: test\r\nContent-Type: application/cloudevents+json\r\nTransfer-Encoding: chunked\r\n\r\n");
            await WriteAsync(stream, body.Length.ToString("x", CultureInfo.InvariantCulture) + "\r\n");
            await stream.WriteAsync(body);
            await WriteAsync(stream, "\r\n");
            (status, text) = await reader.ReadAsync();
            AssertProblem(413, status, text);
            await WriteAsync(stream, "0\r\n\r\n");

            (status, text) = await SendGetAsync(stream, reader, "/metrics");
            Assert.Equal(200, status);
            Assert.Contains("iot_mqtt_limit_hits_total{limit=\"http_request_body\"} 2", text, StringComparison.Ordinal);
            Assert.Contains($"iot_http_limit{{limit=\"max_request_body_bytes\"}} {MaxBody}", text, StringComparison.Ordinal);
            Assert.Contains("iot_http_limit{limit=\"request_body_drain_bytes\"} 1048576", text, StringComparison.Ordinal);

            // A body at the limit is still accepted as before (400 here only because it is not a device).
            var atLimit = "{\"id\":\"" + new string('y', MaxBody - 10) + "\"}";
            await WriteAsync(stream, $"POST /api/devices HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {Encoding.UTF8.GetByteCount(atLimit)}\r\n\r\n{atLimit}");
            (status, text) = await reader.ReadAsync();
            Assert.NotEqual(413, status);
            Assert.DoesNotContain("Exception", broker.Output, StringComparison.Ordinal);
        }
        finally
        {
            output.WriteLine(broker.Output);
        }
    }

    private static async Task<(int Status, string Body)> SendGetAsync(NetworkStream stream, HttpResponseReader reader, string path)
    {
        await WriteAsync(stream, $"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
        return await reader.ReadAsync();
    }

    private static async Task WriteAsync(NetworkStream stream, string text) => await stream.WriteAsync(Encoding.ASCII.GetBytes(text));

    private static void AssertProblem(int expected, int status, string body)
    {
        Assert.True(expected == status, $"expected {expected}, got {status}: {body}");
        using var problem = JsonDocument.Parse(body);
        Assert.Equal(expected, problem.RootElement.GetProperty("status").GetInt32());
        Assert.Contains(MaxBody.ToString(CultureInfo.InvariantCulture), problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    /// <summary>Reads HTTP/1.1 responses with a Content-Length or a chunked body off one connection.</summary>
    private sealed class HttpResponseReader(NetworkStream stream)
    {
        private readonly List<byte> _buffer = [];

        public async Task<(int Status, string Body)> ReadAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var head = Encoding.ASCII.GetString(await ReadUntilAsync("\r\n\r\n"u8.ToArray(), timeout.Token));
            var lines = head.Split("\r\n");
            var status = int.Parse(lines[0].Split(' ')[1], CultureInfo.InvariantCulture);
            var length = lines.FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
            if (length is not null)
            {
                var bytes = await ReadExactlyAsync(int.Parse(length["Content-Length:".Length..].Trim(), CultureInfo.InvariantCulture), timeout.Token);
                return (status, Encoding.UTF8.GetString(bytes));
            }

            var body = new List<byte>();
            while (true)
            {
                var size = Convert.ToInt32(Encoding.ASCII.GetString(await ReadUntilAsync("\r\n"u8.ToArray(), timeout.Token)).Trim(), 16);
                var chunk = await ReadExactlyAsync(size + 2, timeout.Token);
                if (size == 0)
                {
                    return (status, Encoding.UTF8.GetString([.. body]));
                }

                body.AddRange(chunk.AsSpan(0, size).ToArray());
            }
        }

        private async Task<byte[]> ReadUntilAsync(byte[] end, CancellationToken cancellationToken)
        {
            while (true)
            {
                var at = IndexOf(end);
                if (at >= 0)
                {
                    var taken = _buffer.GetRange(0, at).ToArray();
                    _buffer.RemoveRange(0, at + end.Length);
                    return taken;
                }

                await FillAsync(cancellationToken);
            }
        }

        private async Task<byte[]> ReadExactlyAsync(int count, CancellationToken cancellationToken)
        {
            while (_buffer.Count < count)
            {
                await FillAsync(cancellationToken);
            }

            var taken = _buffer.GetRange(0, count).ToArray();
            _buffer.RemoveRange(0, count);
            return taken;
        }

        private async Task FillAsync(CancellationToken cancellationToken)
        {
            var chunk = new byte[4096];
            var read = await stream.ReadAsync(chunk, cancellationToken);
            Assert.True(read > 0, "the broker closed the connection");
            _buffer.AddRange(chunk.AsSpan(0, read).ToArray());
        }

        private int IndexOf(byte[] end)
        {
            for (var i = 0; i + end.Length <= _buffer.Count; i++)
            {
                var match = true;
                for (var j = 0; j < end.Length && match; j++)
                {
                    match = _buffer[i + j] == end[j];
                }

                if (match)
                {
                    return i;
                }
            }

            return -1;
        }
    }
}
