using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Iot.TestUtilities;
using Iot.TestUtilities.Nats;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Queues;

/// <summary>
/// Issue 19, done-when 3: 1 000 queue messages sent through two nodes while consumers on both receive and complete;
/// <c>kill -9</c> of one broker and of the NATS server leading the queue's bucket in the middle. Every acknowledged
/// send is received, and no message whose completion was acknowledged comes back.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
[Trait("Category", "Slow")]
public sealed class ClusterQueueFailoverTests(ITestOutputHelper output)
{
    private const int Messages = 1000;

    // Found by this test and fixed: messages locked twice (compare-and-set on nats-server 2.9 was not exclusive), a
    // completion whose delete marker never reached the other node's index, and a node whose watch was blind after the
    // NATS server holding its consumer died while it answered a resend as a duplicate (docs/cluster.md, "Queues").
    [Fact]
    public async Task ThousandMessages_BrokerAndNatsLeaderKilledMidway_NothingAcknowledgedLostNothingCompletedBack()
    {
        await using var nats = await NatsClusterFixture.StartAsync(servers: 3);
        await using var brokers = await ClusterBrokers.StartAsync(nats, 2);
        var queue = "load-" + Guid.NewGuid().ToString("N")[..8];
        var acknowledged = new ConcurrentDictionary<string, bool>();
        var received = new ConcurrentDictionary<string, int>();
        var completed = new ConcurrentDictionary<string, bool>();
        var cameBack = new ConcurrentBag<string>();
        var alive = new[] { true, true };
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var drained = false;
        try
        {
            using (var http = Http(brokers, 0))
            using (var created = await http.PutAsJsonAsync(new Uri($"api/queues/{queue}", UriKind.Relative),
                new { lockDuration = "00:00:05", maxDeliveryCount = 100 }))
            {
                Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            }

            var halfway = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var next = -1;

            // A sender posts its messages through its node, each with its own message id; a failed send (no 2xx) is
            // tried again through a node that is alive, as a client behind a load balancer would.
            async Task SendAsync(int node)
            {
                while (Interlocked.Increment(ref next) is var i && i < Messages)
                {
                    var id = "msg-" + i.ToString(CultureInfo.InvariantCulture);
                    var target = node;
                    while (!stop.IsCancellationRequested)
                    {
                        target = alive[target] ? target : 1 - target;
                        if (await TrySendAsync(brokers, target, queue, id))
                        {
                            acknowledged[id] = true;
                            break;
                        }

                        target = 1 - target;
                        await Task.Delay(50);
                    }

                    if (acknowledged.Count >= Messages / 2)
                    {
                        halfway.TrySetResult();
                    }
                }
            }

            async Task ConsumeAsync(int node)
            {
                while (!stop.IsCancellationRequested && !drained)
                {
                    var target = alive[node] ? node : 1 - node;
                    List<(string Id, string LockToken)> batch;
                    try
                    {
                        batch = await ReceiveAsync(brokers, target, queue);
                    }
                    catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException or InvalidOperationException)
                    {
                        await Task.Delay(100);
                        continue;
                    }

                    // Checked as the batch arrives, before this consumer completes anything: a message handed out
                    // before another consumer's completion and processed late here is not one that came back.
                    foreach (var (id, _) in batch)
                    {
                        received.AddOrUpdate(id, 1, (_, n) => n + 1);
                        if (completed.ContainsKey(id))
                        {
                            cameBack.Add(id);
                        }
                    }

                    if (batch.Count == 0)
                    {
                        // Everything sent and received, and nothing left: done. A completion whose answer was lost in
                        // the NATS election (503 or a time-out although the message was deleted) is not counted as
                        // completed, so the end is what the queue holds, not the count of answers. One node's view
                        // being empty is not enough: after a NATS server died, a node's watch is blind for about two
                        // heartbeats, and a message another node stored just then is offered here only once it caught
                        // up (the final clean-clone run of session 12 stopped in that gap and reported a loss). A
                        // message really lost keeps the consumers going until the test's deadline and is reported.
                        if (acknowledged.Count >= Messages && acknowledged.Keys.All(received.ContainsKey) && await IsEmptyAsync(brokers, target, queue))
                        {
                            drained = true;
                        }

                        continue;
                    }

                    var ids = batch.ToDictionary(m => m.LockToken, m => m.Id, StringComparer.Ordinal);
                    foreach (var lockToken in await TryCompleteAsync(brokers, target, queue, [.. ids.Keys]))
                    {
                        completed[ids[lockToken]] = true;
                    }
                }
            }

            var workers = new List<Task> { SendAsync(0), SendAsync(0), SendAsync(1), SendAsync(1), ConsumeAsync(0), ConsumeAsync(1) };
            await halfway.Task.WaitAsync(TimeSpan.FromSeconds(90));
            var bucketStream = "KV_iot-queue-" + queue;
            var leader = await nats.StreamLeaderAsync(bucketStream);
            alive[1] = false;
            await brokers.KillAsync(1);
            await nats.KillAsync(leader);
            output.WriteLine($"killed broker node-1 and NATS server n{leader} (leader of {bucketStream}) after {acknowledged.Count} acknowledged sends");

            await Task.WhenAll(workers).WaitAsync(TimeSpan.FromMinutes(3));
            var lost = acknowledged.Keys.Where(id => !received.ContainsKey(id)).Order(StringComparer.Ordinal).ToList();
            output.WriteLine($"acknowledged {acknowledged.Count}, received {received.Count} ({received.Values.Sum()} deliveries), completed {completed.Count}");
            if (lost.Count > 0)
            {
                using var http = Http(brokers, 0);
                output.WriteLine($"lost: {string.Join(", ", lost)}");
                output.WriteLine(await http.GetStringAsync(new Uri($"api/queues/{queue}", UriKind.Relative)));
                output.WriteLine(await http.GetStringAsync(new Uri($"api/queues/{queue}/messages?maxMessages=20", UriKind.Relative)));

                // Node-1 restarted builds its index from the bucket alone: what it finds tells "stored, but node-0's
                // index missed it" from "never stored".
                await brokers.RestartAsync(1);
                using var fresh = Http(brokers, 1);
                output.WriteLine("node-1 restarted, from the bucket: " + await fresh.GetStringAsync(new Uri($"api/queues/{queue}", UriKind.Relative)));
                output.WriteLine(await fresh.GetStringAsync(new Uri($"api/queues/{queue}/messages?maxMessages=20", UriKind.Relative)));

                // What JetStream said about the bucket's stream (a reset of its clustered state, a sequence mismatch).
                for (var server = 0; server < 3; server++)
                {
                    var lines = nats.Output(server).Split('\n').Where(l => l.Contains(bucketStream, StringComparison.Ordinal)
                        || l.Contains("[WRN]", StringComparison.Ordinal) || (l.Contains("[ERR]", StringComparison.Ordinal) && !l.Contains("connect to route", StringComparison.Ordinal)));
                    output.WriteLine($"--- {nats.ServerName(server)}: bucket stream, warnings and errors ---\n{string.Join('\n', lines)}");
                }
            }

            Assert.Equal(Messages, acknowledged.Count);
            Assert.Empty(lost);
            Assert.True(cameBack.IsEmpty, $"completed, then received again: {string.Join(", ", cameBack)}");
            if (!drained)
            {
                using var http = Http(brokers, 0);
                output.WriteLine(await http.GetStringAsync(new Uri($"api/queues/{queue}", UriKind.Relative)));
                output.WriteLine(await http.GetStringAsync(new Uri($"api/queues/{queue}/messages?maxMessages=20", UriKind.Relative)));
            }

            Assert.True(drained, $"the queue still holds messages after {completed.Count} confirmed completions");

            // Nothing stuck: the killed broker, started again with an empty memory, reads the bucket and finds no
            // message left (a message only node-0's view had lost would show here).
            alive[1] = true;
            await brokers.RestartAsync(1);
            Assert.True(await IsEmptyAsync(brokers, 1, queue), "a restarted node finds messages left in the queue");
            output.WriteLine($"{Messages - completed.Count} completion(s) answered with an error although the message was deleted");
        }
        catch
        {
            output.WriteLine(brokers.Diagnostics());
            throw;
        }
    }

    private static HttpClient Http(ClusterBrokers brokers, int node) => new() { BaseAddress = brokers.HttpBaseAddress(node), Timeout = TimeSpan.FromSeconds(15) };

    private static async Task<bool> TrySendAsync(ClusterBrokers brokers, int node, string queue, string id)
    {
        try
        {
            using var http = Http(brokers, node);
            using var body = new StringContent(id, Encoding.UTF8, "text/plain");
            using var response = await http.PostAsync(new Uri($"api/queues/{queue}/messages?messageId={id}", UriKind.Relative), body);
            return response.IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or InvalidOperationException)
        {
            return false;
        }
    }

    private static async Task<List<(string Id, string LockToken)>> ReceiveAsync(ClusterBrokers brokers, int node, string queue)
    {
        using var http = Http(brokers, node);
        using var response = await http.PostAsync(new Uri($"api/queues/{queue}/messages:receive?maxMessages=10&maxWaitTime=2", UriKind.Relative), null);
        if (!response.IsSuccessStatusCode)
        {
            return [];
        }

        var value = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("value");
        return [.. value.EnumerateArray().Select(m => (m.GetProperty("messageId").GetString()!, m.GetProperty("lockToken").GetString()!))];
    }

    /// <summary>Completes a batch in one call; the lock tokens whose completion was acknowledged.</summary>
    /// <summary>Whether node <paramref name="node"/> reports the queue empty (no active, scheduled, deferred or dead-lettered message).</summary>
    private static async Task<bool> IsEmptyAsync(ClusterBrokers brokers, int node, string queue)
    {
        try
        {
            using var http = Http(brokers, node);
            var queueInfo = await http.GetFromJsonAsync<JsonElement>(new Uri($"api/queues/{queue}", UriKind.Relative));
            var statistics = queueInfo.GetProperty("statistics");
            return new[] { "active", "scheduled", "deferred", "deadLettered" }.All(name => statistics.GetProperty(name).GetInt64() == 0);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException)
        {
            return false;
        }
    }

    private static async Task<List<string>> TryCompleteAsync(ClusterBrokers brokers, int node, string queue, string[] lockTokens)
    {
        try
        {
            using var http = Http(brokers, node);
            using var response = await http.PostAsJsonAsync(new Uri($"api/queues/{queue}/messages:complete", UriKind.Relative), new { lockTokens });
            if (!response.IsSuccessStatusCode)
            {
                return [];
            }

            var result = await response.Content.ReadFromJsonAsync<JsonElement>();
            return [.. result.GetProperty("succeededLockTokens").EnumerateArray().Select(t => t.GetString()!)];
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or InvalidOperationException or JsonException)
        {
            return [];
        }
    }
}
