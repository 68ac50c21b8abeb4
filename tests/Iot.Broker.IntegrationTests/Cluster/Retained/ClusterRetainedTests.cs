using System.Globalization;
using Iot.TestUtilities;
using Iot.TestUtilities.Nats;
using MQTTnet;
using MQTTnet.Exceptions;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Retained;

/// <summary>
/// Issue 18, done-when 5: retained messages across nodes, with three real nats-server processes (JetStream, R3) and two
/// broker child processes. A SUBSCRIBE on node B right after node A acknowledged a retained message never gets an
/// older value; a clear on A is seen on B; the values survive kill -9 of the stream's NATS leader and of every broker.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class ClusterRetainedTests(ITestOutputHelper output)
{
    private const string Stream = "IOT_RETAINED";
    private static readonly TimeSpan Receive = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task PublishAcknowledgedOnA_SubscribeOnBAtOnce_NeverStale_1000Rounds_AndAClearOnAIsSeenOnB()
    {
        await using var nats = await NatsClusterFixture.StartAsync(servers: 3);
        await using var brokers = await ClusterBrokers.StartAsync(nats, 2, "--Iot:Security:AllowAnonymous=true");
        try
        {
            var topic = TestIds.Topic("cr-rounds");
            await using var publisher = await ClusterMqttClient.ConnectAsync(brokers.MqttPort(0), "cr-pub");
            await using var subscriber = await ClusterMqttClient.ConnectAsync(brokers.MqttPort(1), "cr-sub");

            const int rounds = 1000;
            var stale = 0;
            var started = DateTime.UtcNow;
            for (var round = 1; round <= rounds; round++)
            {
                var value = round.ToString(CultureInfo.InvariantCulture);
                await publisher.PublishRetainedAsync(topic, value);
                Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, await subscriber.SubscribeAsync(topic));
                var got = await subscriber.ReceiveRetainedAsync(Receive);
                Assert.Equal(topic, got.Topic);
                var seen = int.Parse(got.ConvertPayloadToString(), CultureInfo.InvariantCulture);
                Assert.True(seen <= round, $"round {round} got {seen}, a value never published yet");
                if (seen < round)
                {
                    stale++;
                    output.WriteLine($"round {round}: stale value {seen}");
                }
            }

            output.WriteLine($"{rounds} rounds in {(DateTime.UtcNow - started).TotalSeconds:0.0} s, {stale} stale");
            Assert.Equal(0, stale);

            // A clear on A (empty retained payload, acknowledged), then on B: SUBSCRIBE to the cleared topic, then to a
            // marker set on A. Retained messages are sent in SUBSCRIBE order, so once the marker is here, anything for
            // the cleared topic would have come before it.
            var marker = TestIds.Topic("cr-marker");
            await publisher.PublishRetainedAsync(marker, "marker");
            await publisher.PublishRetainedAsync(topic, "");
            Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, await subscriber.SubscribeAsync(topic));
            Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, await subscriber.SubscribeAsync(marker));
            var next = await subscriber.ReceiveRetainedAsync(Receive);
            Assert.Equal((marker, "marker"), (next.Topic, next.ConvertPayloadToString()));
        }
        catch
        {
            output.WriteLine(brokers.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task RetainedValues_SurviveKillOfTheStreamLeader_AndOfEveryBroker()
    {
        await using var nats = await NatsClusterFixture.StartAsync(servers: 3);
        await using var brokers = await ClusterBrokers.StartAsync(nats, 2, "--Iot:Security:AllowAnonymous=true");
        try
        {
            var prefix = TestIds.Topic("cr-survive");
            var expected = new Dictionary<string, string>();
            await using (var a = await ClusterMqttClient.ConnectAsync(brokers.MqttPort(0), "cr-a"))
            await using (var b = await ClusterMqttClient.ConnectAsync(brokers.MqttPort(1), "cr-b"))
            {
                for (var i = 0; i < 10; i++)
                {
                    var topic = $"{prefix}/t{i}";
                    await (i % 2 == 0 ? a : b).PublishRetainedAsync(topic, $"first-{i}");
                    await (i % 2 == 0 ? b : a).PublishRetainedAsync(topic, $"v{i}");
                    expected[topic] = $"v{i}";
                }

                // kill -9 of the NATS server that leads the retained stream: writes come back within seconds, nothing
                // acknowledged is lost.
                var leader = await nats.StreamLeaderAsync(Stream);
                output.WriteLine($"killing NATS {nats.ServerName(leader)}, leader of {Stream}");
                await nats.KillAsync(leader);
                var afterKill = $"{prefix}/after-kill";
                await PublishEventuallyAsync(brokers, 0, afterKill, "written after the kill");
                expected[afterKill] = "written after the kill";
                await AssertServedAsync(brokers, 1, prefix, expected);
            }

            // kill -9 of every broker; they come back with empty memory and load the index from the stream (two NATS
            // servers of three still up).
            await Task.WhenAll(brokers.KillAsync(0), brokers.KillAsync(1));
            await Task.WhenAll(brokers.RestartAsync(0), brokers.RestartAsync(1));
            await AssertServedAsync(brokers, 0, prefix, expected);
            await AssertServedAsync(brokers, 1, prefix, expected);
        }
        catch
        {
            output.WriteLine(brokers.Diagnostics());
            throw;
        }
    }

    /// <summary>A new subscriber on node <paramref name="node"/> gets exactly <paramref name="expected"/> (retrying while the NATS cluster elects a leader).</summary>
    private async Task AssertServedAsync(ClusterBrokers brokers, int node, string prefix, Dictionary<string, string> expected)
    {
        var last = "no attempt finished";
        try
        {
            await Eventually.WaitUntilAsync(async () =>
            {
                try
                {
                    await using var client = await ClusterMqttClient.ConnectAsync(brokers.MqttPort(node), "crchek");
                    var code = await client.SubscribeAsync(prefix + "/#");
                    if (code != MqttClientSubscribeResultCode.GrantedQoS1)
                    {
                        // 0x80: the index could not catch up within the request timeout; that is the refusal, never a stale read.
                        last = $"SUBACK {code}";
                        output.WriteLine($"node {node}: {last}, trying again");
                        return false;
                    }

                    var got = new Dictionary<string, string>();
                    while (got.Count < expected.Count)
                    {
                        var message = await client.ReceiveRetainedAsync(Receive);
                        got[message.Topic] = message.ConvertPayloadToString();
                    }

                    Assert.Equal(expected.OrderBy(p => p.Key, StringComparer.Ordinal), got.OrderBy(p => p.Key, StringComparer.Ordinal));
                    return true;
                }
                catch (Exception ex) when (ex is MqttCommunicationException or OperationCanceledException)
                {
                    // A restarted broker still joining (CONNACK refused while it is cut off from NATS, or no answer in
                    // time): ask again. A SUBACK followed by a missing (TimeoutException) or stale value fails at once.
                    last = $"{ex.GetType().Name}: {ex.Message}";
                    output.WriteLine($"node {node}: {last}, trying again");
                    return false;
                }
            }, TimeSpan.FromSeconds(60), $"node {node} serves every retained value");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message}; last attempt: {last}", ex);
        }
    }

    /// <summary>Publishes through node <paramref name="node"/> until it is acknowledged (a new stream leader takes seconds).</summary>
    private async Task PublishEventuallyAsync(ClusterBrokers brokers, int node, string topic, string payload)
    {
        var attempts = 0;
        await Eventually.WaitUntilAsync(async () =>
        {
            attempts++;
            try
            {
                await using var client = await ClusterMqttClient.ConnectAsync(brokers.MqttPort(node), "crretr");
                await client.PublishRetainedAsync(topic, payload);
                return true;
            }
            catch (Exception ex) when (ex is MqttCommunicationException or Xunit.Sdk.XunitException or OperationCanceledException)
            {
                // No acknowledgement (0x80, or the connection closed): the publisher sends again, as a device would.
                return false;
            }
        }, TimeSpan.FromSeconds(30), $"a retained publish through node {node} is acknowledged after the kill");
        output.WriteLine($"acknowledged after {attempts} attempt(s)");
    }
}
