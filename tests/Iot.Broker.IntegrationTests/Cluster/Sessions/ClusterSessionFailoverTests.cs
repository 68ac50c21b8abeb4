using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Sessions;

/// <summary>
/// Issue 18, done-when items 2 and 3, with three real nats-server processes and three broker child processes: a
/// persistent session survives the <c>kill -9</c> of the broker it was on, and of the JetStream leader of the session
/// stream, losing nothing a publisher had acknowledged, in order per topic.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
[Trait("Category", "Slow")]
public sealed class ClusterSessionFailoverTests(ITestOutputHelper output)
{
    private const int Topics = 4;
    private const int PerTopic = 2500;
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(120);

    /// <summary>
    /// The session's queue bound must hold the whole run: the publishers outpace one subscriber, and a full queue drops
    /// new messages by design (Iot:Mqtt:MaxQueuedMessages, default 1000, as in single-process mode).
    /// </summary>
    private static readonly string QueueBound = $"--Iot:Mqtt:MaxQueuedMessages={Topics * PerTopic * 2}";

    [Fact]
    public async Task PersistentSubscriber_ItsBrokerKilledMidRun_ResumesOnAThirdBroker_WithEveryAcknowledgedIdInOrderPerTopic()
    {
        await using var cluster = await SessionsClusterHarness.StartAsync();
        var nodes = await cluster.StartBrokersAsync(3, QueueBound);
        var (a, b, c) = (nodes[0], nodes[1], nodes[2]);
        var run = TestIds.Topic("failover");
        var clientId = TestIds.ClientId("sess");
        var received = new ConcurrentQueue<(string Topic, string Payload)>();
        var acknowledged = new ConcurrentDictionary<string, DateTime>(StringComparer.Ordinal);
        try
        {
            using var onB = ClusterSessionClients.Recording(received);
            await onB.ConnectAsync(ClusterSessionClients.Options(b, clientId, cleanStart: false));
            await ClusterSessionClients.SubscribeAsync(onB, run + "/#");
            await ProbeAsync(a, run, received);

            using var stop = new CancellationTokenSource(RunTimeout);
            var publishers = Enumerable.Range(0, Topics)
                .Select(t => Task.Run(() => ClusterSessionClients.PublishInOrderAsync(() => a, $"{run}/t{t}", PerTopic, acknowledged, stop.Token)))
                .ToArray();

            await Eventually.WaitUntilAsync(() => acknowledged.Count >= Topics * PerTopic / 3, RunTimeout, "a third of the messages acknowledged");
            await cluster.KillBrokerAsync(1);
            var killed = Stopwatch.StartNew();
            var receivedAtKill = received.Count;
            output.WriteLine($"killed b after {acknowledged.Count} acknowledged, {receivedAtKill} received");

            // The client reconnects at once (no back-off): what is measured is the brokers' part of the resume.
            using var onC = ClusterSessionClients.Recording(received);
            var connack = await onC.ConnectAsync(ClusterSessionClients.Options(c, clientId, cleanStart: false));
            Assert.True(connack.IsSessionPresent, "the session resumes on c");
            var connected = killed.Elapsed;
            await Eventually.WaitUntilAsync(() => received.Count > receivedAtKill, RunTimeout, "a message arrives through c");
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"resume on c after kill -9 of b: CONNACK (session present) after {connected.TotalMilliseconds:F0} ms, first message after {killed.Elapsed.TotalMilliseconds:F0} ms"));

            await Task.WhenAll(publishers);
            Assert.Equal(Topics * PerTopic, acknowledged.Count);
            var arrived = new HashSet<string>(StringComparer.Ordinal);
            await Eventually.WaitUntilAsync(() =>
            {
                foreach (var (_, payload) in received)
                {
                    arrived.Add(payload);
                }

                return acknowledged.Keys.All(arrived.Contains);
            }, RunTimeout, "every acknowledged id arrives");
            Assert.Null(ClusterSessionClients.FirstOutOfOrder(received.Where(m => !m.Topic.EndsWith("/probe", StringComparison.Ordinal))));
        }
        catch
        {
            output.WriteLine($"acknowledged {acknowledged.Count}, received {received.Count}\n{cluster.Diagnostics()}");
            throw;
        }
    }

    [Fact]
    public async Task SessionStreamLeaderKilledMidRun_NothingAcknowledgedIsLost_AndPublishingResumesWithinTenSeconds()
    {
        await using var cluster = await SessionsClusterHarness.StartAsync();
        var nodes = await cluster.StartBrokersAsync(2, QueueBound);
        var (a, b) = (nodes[0], nodes[1]);
        var run = TestIds.Topic("leader");
        var clientId = TestIds.ClientId("sess");
        var received = new ConcurrentQueue<(string Topic, string Payload)>();
        var acknowledged = new ConcurrentDictionary<string, DateTime>(StringComparer.Ordinal);
        try
        {
            var subscriber = ClusterSessionClients.Recording(received);
            await subscriber.ConnectAsync(ClusterSessionClients.Options(b, clientId, cleanStart: false));
            await ClusterSessionClients.SubscribeAsync(subscriber, run + "/#");
            await ProbeAsync(a, run, received);

            using var stop = new CancellationTokenSource(RunTimeout);
            var publishers = Enumerable.Range(0, Topics)
                .Select(t => Task.Run(() => ClusterSessionClients.PublishInOrderAsync(() => a, $"{run}/t{t}", PerTopic, acknowledged, stop.Token)))
                .ToArray();

            await Eventually.WaitUntilAsync(() => acknowledged.Count >= Topics * PerTopic / 3, RunTimeout, "a third of the messages acknowledged");
            var killedAt = DateTime.UtcNow;
            var leader = await cluster.KillStreamLeaderAsync("IOT_SESSIONS");
            output.WriteLine($"killed the stream leader {leader} after {acknowledged.Count} acknowledged");

            await Task.WhenAll(publishers);
            var pause = PublishingPauseAfter(acknowledged.Values, killedAt);
            output.WriteLine($"longest pause between acknowledgements after the kill: {pause.TotalSeconds:F1} s");
            Assert.True(pause < TimeSpan.FromSeconds(10), $"publishing paused {pause.TotalSeconds:F1} s");

            // The subscriber's broker may have closed it while JetStream elected a leader: it comes back as a device does.
            var arrived = new HashSet<string>(StringComparer.Ordinal);
            await Eventually.WaitUntilAsync(async () =>
            {
                if (!subscriber.IsConnected)
                {
                    try
                    {
                        subscriber.Dispose();
                        subscriber = ClusterSessionClients.Recording(received);
                        await subscriber.ConnectAsync(ClusterSessionClients.Options(b, clientId, cleanStart: false));
                    }
                    catch (MQTTnet.Exceptions.MqttCommunicationException)
                    {
                        return false;
                    }
                }

                foreach (var (_, payload) in received)
                {
                    arrived.Add(payload);
                }

                return acknowledged.Keys.All(arrived.Contains);
            }, RunTimeout, "every acknowledged id arrives");
            Assert.Null(ClusterSessionClients.FirstOutOfOrder(received.Where(m => !m.Topic.EndsWith("/probe", StringComparison.Ordinal))));
            subscriber.Dispose();
        }
        catch
        {
            output.WriteLine($"acknowledged {acknowledged.Count}, received {received.Count}\n{cluster.Diagnostics()}");
            throw;
        }
    }

    /// <summary>
    /// Waits until a QoS 1 message published on <paramref name="broker"/> reaches the subscriber: from then on that node's
    /// index of persistent subscriptions (fed by a watch of the session records) knows the new subscription.
    /// </summary>
    private static async Task ProbeAsync(BrokerProcess broker, string run, ConcurrentQueue<(string Topic, string Payload)> received)
    {
        using var probe = new MqttClientFactory().CreateMqttClient();
        await probe.ConnectAsync(ClusterSessionClients.Options(broker, TestIds.ClientId("probe"), cleanStart: true, expiry: 0));
        var n = 0;
        await Eventually.WaitUntilAsync(async () =>
        {
            var payload = "probe-" + n++;
            await probe.PublishAsync(new MqttApplicationMessageBuilder()
                .WithTopic(run + "/probe").WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            var sent = Stopwatch.StartNew();
            while (sent.Elapsed < TimeSpan.FromMilliseconds(500))
            {
                if (received.Any(m => m.Payload == payload))
                {
                    return true;
                }

                await Task.Delay(20);
            }

            return false;
        }, TimeSpan.FromSeconds(30), "the subscription is known on the publishing node");
    }

    private static TimeSpan PublishingPauseAfter(IEnumerable<DateTime> acknowledgedAt, DateTime killedAt)
    {
        var times = acknowledgedAt.Where(t => t >= killedAt).Order().ToList();
        if (times.Count == 0)
        {
            return TimeSpan.MaxValue;
        }

        var longest = times[0] - killedAt;
        for (var i = 1; i < times.Count; i++)
        {
            longest = times[i] - times[i - 1] > longest ? times[i] - times[i - 1] : longest;
        }

        return longest;
    }
}
