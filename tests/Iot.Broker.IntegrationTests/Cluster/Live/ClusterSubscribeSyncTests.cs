using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Iot.TestUtilities;
using Iot.TestUtilities.Nats;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Live;

/// <summary>
/// A SUBACK means on a cluster what it means on one node: a message published on any node after it reaches the
/// subscription. Each round subscribes on node B to a topic nobody used before, and the moment both SUBACKs are in,
/// publishes on node A: the live subscriber (clean session, its copy travels over core NATS) and the persistent one
/// (its QoS 1 copy is queued in JetStream by A, which must know its record) both get it. With
/// <c>Iot:Cluster:SubscribeSyncTimeout=0</c> (the SUBACK not waiting for the other nodes) rounds are missed.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class ClusterSubscribeSyncTests(ITestOutputHelper output)
{
    private const int Rounds = 300;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task SubscribeOnB_PublishOnAAtOnce_LiveAndPersistentSubscribersGetEveryRound()
    {
        await using var nats = await NatsClusterFixture.StartAsync(servers: 3);
        await using var brokers = await ClusterBrokers.StartAsync(nats, 2, "--Iot:Security:AllowAnonymous=true");
        try
        {
            var prefix = TestIds.Topic("sync");
            using var publisher = await ConnectAsync(brokers.MqttPort(0), "spub", persistent: false);
            var live = new Arrivals();
            var persistent = new Arrivals();
            using var liveClient = await ConnectAsync(brokers.MqttPort(1), "slive", persistent: false, live);
            using var persistentClient = await ConnectAsync(brokers.MqttPort(1), "spers", persistent: true, persistent);

            var missed = new List<string>();
            var (subscribing, publishing, receiving, unsubscribing) = (TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero);
            var clock = Stopwatch.StartNew();
            var rounds = 0;
            for (var round = 1; round <= Rounds; round++, rounds++)
            {
                var topic = $"{prefix}/r{round.ToString(CultureInfo.InvariantCulture)}";
                var phase = clock.Elapsed;
                await Task.WhenAll(SubscribeAsync(liveClient, topic), SubscribeAsync(persistentClient, topic));
                subscribing += clock.Elapsed - phase;
                phase = clock.Elapsed;
                var result = await publisher.PublishAsync(new MqttApplicationMessageBuilder()
                    .WithTopic(topic).WithPayload("x").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
                Assert.True(result.IsSuccess, $"PUBACK {result.ReasonCode}");
                publishing += clock.Elapsed - phase;
                phase = clock.Elapsed;
                if (!await live.WaitAsync(topic, Deadline))
                {
                    missed.Add($"live {topic}");
                }

                if (!await persistent.WaitAsync(topic, Deadline))
                {
                    missed.Add($"persistent {topic}");
                }

                receiving += clock.Elapsed - phase;
                if (missed.Count >= 5)
                {
                    break;
                }

                // Within the per-client subscription quota.
                phase = clock.Elapsed;
                await Task.WhenAll(liveClient.UnsubscribeAsync(topic), persistentClient.UnsubscribeAsync(topic));
                unsubscribing += clock.Elapsed - phase;
            }

            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{rounds} rounds in {clock.Elapsed.TotalSeconds:F1} s; mean per round: SUBSCRIBE x2 {Ms(subscribing)} ms, publish {Ms(publishing)} ms, receive {Ms(receiving)} ms, UNSUBSCRIBE x2 {Ms(unsubscribing)} ms"));
            string Ms(TimeSpan total) => (total.TotalMilliseconds / Math.Max(1, rounds)).ToString("F1", CultureInfo.InvariantCulture);

            Assert.True(missed.Count == 0, $"published on A right after the SUBACK on B, never received: {string.Join(", ", missed)}");
            output.WriteLine(await MetricAsync(brokers, 1, "iot_cluster_subscribe_sync_timeouts_total"));
        }
        catch
        {
            output.WriteLine(brokers.Diagnostics());
            throw;
        }
    }

    private static async Task<IMqttClient> ConnectAsync(int port, string prefix, bool persistent, Arrivals? arrivals = null)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        if (arrivals is not null)
        {
            client.ApplicationMessageReceivedAsync += e =>
            {
                arrivals.Add(e.ApplicationMessage.Topic);
                return Task.CompletedTask;
            };
        }

        var options = new MqttClientOptionsBuilder()
            .WithTcpServer(BrokerFixture.Host, port)
            .WithClientId(TestIds.ClientId(prefix))
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithCleanStart(!persistent)
            .WithSessionExpiryInterval(persistent ? 3600u : 0u)
            .WithTimeout(TimeSpan.FromSeconds(15))
            .Build();
        var result = await client.ConnectAsync(options);
        Assert.Equal(MqttClientConnectResultCode.Success, result.ResultCode);
        return client;
    }

    private static async Task SubscribeAsync(IMqttClient client, string topic)
    {
        var result = await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(f => f.WithTopic(topic).WithAtLeastOnceQoS()).Build());
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, Assert.Single(result.Items).ResultCode);
    }

    private static async Task<string> MetricAsync(ClusterBrokers brokers, int node, string name)
    {
        using var http = new HttpClient { BaseAddress = brokers.HttpBaseAddress(node) };
        var text = await http.GetStringAsync(new Uri("metrics", UriKind.Relative));
        return string.Join('\n', text.Split('\n').Where(l => l.StartsWith(name, StringComparison.Ordinal)));
    }

    /// <summary>The topics a client received, each waited for by a task.</summary>
    private sealed class Arrivals
    {
        private readonly ConcurrentDictionary<string, TaskCompletionSource> _topics = new(StringComparer.Ordinal);

        public void Add(string topic) => Of(topic).TrySetResult();

        public async Task<bool> WaitAsync(string topic, TimeSpan deadline)
        {
            try
            {
                await Of(topic).Task.WaitAsync(deadline);
                return true;
            }
            catch (TimeoutException)
            {
                return false;
            }
        }

        private TaskCompletionSource Of(string topic) =>
            _topics.GetOrAdd(topic, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
    }
}
