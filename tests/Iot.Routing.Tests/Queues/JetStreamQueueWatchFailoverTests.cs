using System.Diagnostics;
using Iot.Routing.Queues;
using Iot.Routing.Queues.JetStream;
using Iot.TestUtilities;
using Iot.TestUtilities.Nats;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;
using Xunit.Abstractions;

namespace Iot.Routing.Tests.Queues;

/// <summary>
/// A node's queue index after the NATS server holding its watch of the queue's bucket died: the watch is made again on
/// a live server and the node learns of what other nodes send. The gap is printed: with NATS.Net's default 5 s heartbeat
/// it was 10 to 20 s, with the 1 s heartbeat the watches use now 7 to 12 s, most of it the consumer's re-creation
/// (docs/cluster.md, "Queues (part 2)").
/// </summary>
[Trait("Category", "Integration")]
public sealed class JetStreamQueueWatchFailoverTests(ITestOutputHelper output)
{
    private const string InboxOfB = "_INBOX_NODE_B";

    [Fact]
    public async Task ServerHoldingTheWatchKilled_TheNodeStillLearnsOfMessagesOtherNodesSend()
    {
        await using var nats = await NatsClusterFixture.StartAsync(servers: 3);
        var prefix = "w" + Guid.NewGuid().ToString("N")[..8];
        await using var connectionA = Connect(nats.Urls, null);
        await using var connectionB = Connect(nats.Urls, InboxOfB);
        await using var a = new JetStreamQueueStore(new NatsKVContext(new NatsJSContext(connectionA)), nats.Replicas, TimeProvider.System, prefix: prefix);
        await using var b = new JetStreamQueueStore(new NatsKVContext(new NatsJSContext(connectionB)), nats.Replicas, TimeProvider.System, prefix: prefix);
        await a.StartAsync();
        await a.CreateOrUpdateQueueAsync(new QueueProperties { Name = "q" });
        await b.StartAsync();
        await a.SendAsync("q", [new QueueMessage { Body = "before"u8.ToArray() }]);
        await Eventually.WaitUntilAsync(async () => (await b.GetStatisticsAsync("q")).Active == 1, TimeSpan.FromSeconds(30), "B sees the first message");

        // B's watch of the bucket is the push consumer that delivers to B's inbox; its server is the one to kill.
        var stream = "KV_" + prefix + "-queue-q";
        string? host = null;
        await foreach (var consumer in new NatsJSContext(connectionA).ListConsumersAsync(stream))
        {
            if (consumer.Info.Config.DeliverSubject?.StartsWith(InboxOfB, StringComparison.Ordinal) == true)
            {
                host = consumer.Info.Cluster?.Leader;
            }
        }

        Assert.NotNull(host);
        var victim = Enumerable.Range(0, nats.ServerCount).Single(i => nats.ServerName(i) == host);
        await nats.KillAsync(victim);
        var clock = Stopwatch.StartNew();

        // A sends (again while the stream elects a leader, if it was there; the message id keeps one copy).
        await Eventually.WaitUntilAsync(async () =>
        {
            try
            {
                await a.SendAsync("q", [new QueueMessage { Body = "after"u8.ToArray(), MessageId = "after" }]);
                return true;
            }
            catch (Exception ex) when (ex is NatsException or TimeoutException or OperationCanceledException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(60), "A's send is stored");
        var sent = clock.Elapsed;

        await Eventually.WaitUntilAsync(async () => (await b.GetStatisticsAsync("q")).Active == 2, TimeSpan.FromSeconds(60),
            "B learns of the message A sent after the server of B's watch died");
        output.WriteLine($"killed {host} (B's watch); A's send stored after {sent.TotalSeconds:0.0} s, seen by B after {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.Equal(["before", "after"], (await b.ReceiveAsync("q", new ReceiveRequest { MaxMessages = 10 })).Select(m => System.Text.Encoding.UTF8.GetString(m.Body)));
    }

    private static NatsConnection Connect(string urls, string? inboxPrefix) => new(NatsOpts.Default with
    {
        Url = urls,
        InboxPrefix = inboxPrefix ?? NatsOpts.Default.InboxPrefix,
        ConnectTimeout = TimeSpan.FromSeconds(5),
        RequestTimeout = TimeSpan.FromSeconds(5),
        CommandTimeout = TimeSpan.FromSeconds(5),
    });
}
