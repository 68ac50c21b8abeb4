using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Iot.TestUtilities;

namespace Iot.Broker.IntegrationTests.ClaimCheck;

/// <summary>
/// Issue 21, claim check durability, with the built broker as a child process and <c>kill -9</c>: killed while a large
/// queue send's blob is being written (before the message), the broker restarts with no message for it (no dangling
/// reference) and its sweeper deletes the orphaned pending blob after the grace period; killed after a send was
/// acknowledged, the message and its blob are both there after the restart.
/// </summary>
[Collection(BrokerProcessCollectionDefinition.Name)]
[Trait("Category", "Integration")]
[Trait("Category", "Slow")]
public sealed class ClaimCheckCrashTests
{
    private const int Threshold = 64 * 1024;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static readonly string[] Settings =
    [
        "--Iot:ClaimCheck:Enabled=true",
        $"--Iot:ClaimCheck:ThresholdBytes={Threshold}",
        "--Iot:ClaimCheck:OrphanGracePeriod=00:00:03",
        "--Iot:ClaimCheck:SweepInterval=00:00:00.5",
    ];

    [Fact]
    public async Task KilledBetweenBlobWriteAndMessageWrite_NoMessageAndTheOrphanIsSwept()
    {
        using var dataDir = new TempDirectory("iot-claimcheck-kill");
        var pending = Path.Combine(dataDir.Path, "claimcheck", "pending");
        var broker = await BrokerProcess.StartAsync(dataDir.Path, Settings);
        try
        {
            using var http = Http(broker);
            await ClaimCheckAssert.CreateQueueAsync(http, "uploads");

            // The body's first 300 KB arrive, the rest never does: the broker is streaming it into a pending blob.
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var content = new StalledContent(RandomNumberGenerator.GetBytes(300_000), gate.Task);
            var sending = http.PostAsync(new Uri("api/queues/uploads/messages", UriKind.Relative), content);
            await Eventually.WaitUntilAsync(() => Directory.Exists(pending) && Directory.GetFiles(pending).Any(f => new FileInfo(f).Length >= 100_000),
                Timeout, "the broker writes the body into claimcheck/pending/");

            await broker.KillAsync();
            gate.TrySetResult();
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => sending);
            Assert.NotEmpty(Directory.GetFiles(pending));

            broker = await BrokerProcess.StartAsync(dataDir.Path, Settings);
            using var again = Http(broker);
            var peeked = await again.GetFromJsonAsync<JsonElement>(new Uri("api/queues/uploads/messages", UriKind.Relative));
            Assert.Empty(peeked.GetProperty("value").EnumerateArray());

            await Eventually.WaitUntilAsync(() => Directory.GetFiles(pending).Length == 0, Timeout, "the sweeper deletes the orphan after the grace period");
            Assert.Equal(1, await ClaimCheckAssert.MetricAsync(new Uri($"http://127.0.0.1:{broker.HttpPort}/"), "iot_claimcheck_orphans_swept_total"));
            Assert.Empty(Directory.GetFiles(Path.Combine(dataDir.Path, "claimcheck", "blobs")));
        }
        finally
        {
            await broker.DisposeAsync();
        }
    }

    [Fact]
    public async Task KilledAfterAcknowledgedSend_MessageAndItsBlobSurvive()
    {
        using var dataDir = new TempDirectory("iot-claimcheck-kill");
        var payload = RandomNumberGenerator.GetBytes(2 * 1024 * 1024);
        var broker = await BrokerProcess.StartAsync(dataDir.Path, Settings);
        try
        {
            using (var http = Http(broker))
            {
                await ClaimCheckAssert.CreateQueueAsync(http, "uploads");
                using var content = new ByteArrayContent(payload);
                using var sent = await http.PostAsync(new Uri("api/queues/uploads/messages", UriKind.Relative), content);
                Assert.Equal(HttpStatusCode.Created, sent.StatusCode);
            }

            await broker.KillAsync();
            broker = await BrokerProcess.StartAsync(dataDir.Path, Settings);

            using var again = Http(broker);
            using var received = await again.PostAsync(new Uri("api/queues/uploads/messages:receive?resolveClaimCheck=true&maxWaitTime=10", UriKind.Relative), null);
            received.EnsureSuccessStatusCode();
            var message = Assert.Single((await received.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("value").EnumerateArray());
            Assert.Equal(payload, Convert.FromBase64String(message.GetProperty("body").GetProperty("base64").GetString()!));
        }
        finally
        {
            await broker.DisposeAsync();
        }
    }

    private static HttpClient Http(BrokerProcess broker) =>
        new() { BaseAddress = new Uri($"http://127.0.0.1:{broker.HttpPort}/"), Timeout = Timeout };

    /// <summary>A chunked body that sends its first part and then waits (a slow upload), until <c>resume</c> completes.</summary>
    private sealed class StalledContent(byte[] first, Task resume) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync(first);
            await stream.FlushAsync();
            await resume;
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
