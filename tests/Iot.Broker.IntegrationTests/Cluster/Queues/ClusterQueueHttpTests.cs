using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Iot.TestUtilities;
using Iot.TestUtilities.Nats;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Queues;

/// <summary>The Queues HTTP API against cluster nodes (issue 19): one queue, whichever node is asked.</summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class ClusterQueueHttpTests(ITestOutputHelper output)
{
    [Fact]
    public async Task SendThroughNodeA_ReceivedAndCompletedThroughNodeB()
    {
        await using var nats = await NatsClusterFixture.StartAsync(servers: 3);
        await using var brokers = await ClusterBrokers.StartAsync(nats, 2);
        try
        {
            using var a = Http(brokers, 0);
            using var b = Http(brokers, 1);
            var queue = "orders-" + Guid.NewGuid().ToString("N")[..8];
            using (var created = await a.PutAsJsonAsync(new Uri($"api/queues/{queue}", UriKind.Relative), new { maxDeliveryCount = 5 }))
            {
                Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            }

            // B learns of the queue from the shared definitions, then long-polls it: A's send must wake it.
            await Eventually.WaitUntilAsync(async () =>
            {
                using var response = await b.GetAsync(new Uri($"api/queues/{queue}", UriKind.Relative));
                return response.StatusCode == HttpStatusCode.OK;
            }, TimeSpan.FromSeconds(10), "node B knows the queue");
            var receiving = b.PostAsync(new Uri($"api/queues/{queue}/messages:receive?maxWaitTime=30", UriKind.Relative), null);

            using (var body = new StringContent("""{"order":42}""", Encoding.UTF8, "application/json"))
            using (var sent = await a.PostAsync(new Uri($"api/queues/{queue}/messages?messageId=order-42", UriKind.Relative), body))
            {
                Assert.Equal(HttpStatusCode.Created, sent.StatusCode);
            }

            using var received = await receiving.WaitAsync(TimeSpan.FromSeconds(20));
            Assert.Equal(HttpStatusCode.OK, received.StatusCode);
            var message = Assert.Single((await received.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("value").EnumerateArray());
            Assert.Equal("order-42", message.GetProperty("messageId").GetString());
            Assert.Equal(1, message.GetProperty("deliveryCount").GetInt32());
            var lockToken = message.GetProperty("lockToken").GetString()!;

            // The same message id sent through B is a duplicate of A's send.
            using (var body = new StringContent("""{"order":42}""", Encoding.UTF8, "application/json"))
            using (var again = await b.PostAsync(new Uri($"api/queues/{queue}/messages?messageId=order-42", UriKind.Relative), body))
            {
                Assert.Equal(HttpStatusCode.OK, again.StatusCode);
                Assert.True((await again.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("duplicate").GetBoolean());
            }

            using (var completed = await b.PostAsJsonAsync(new Uri($"api/queues/{queue}/messages:complete", UriKind.Relative), new { lockTokens = new[] { lockToken } }))
            {
                var result = await completed.Content.ReadFromJsonAsync<JsonElement>();
                Assert.Equal(lockToken, Assert.Single(result.GetProperty("succeededLockTokens").EnumerateArray()).GetString());
            }

            await Eventually.WaitUntilAsync(async () =>
            {
                var info = await a.GetFromJsonAsync<JsonElement>(new Uri($"api/queues/{queue}", UriKind.Relative));
                return info.GetProperty("statistics").GetProperty("active").GetInt64() == 0;
            }, TimeSpan.FromSeconds(10), "node A sees the message completed");
            using var none = await a.PostAsync(new Uri($"api/queues/{queue}/messages:receive", UriKind.Relative), null);
            Assert.Empty((await none.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("value").EnumerateArray());
        }
        catch
        {
            output.WriteLine(brokers.Diagnostics());
            throw;
        }
    }

    private static HttpClient Http(ClusterBrokers brokers, int node) => new() { BaseAddress = brokers.HttpBaseAddress(node), Timeout = TimeSpan.FromSeconds(40) };
}
