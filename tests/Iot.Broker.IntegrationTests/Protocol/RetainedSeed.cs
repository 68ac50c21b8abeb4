using System.Text;
using Iot.Messaging;
using Iot.TestUtilities;
using Microsoft.Extensions.DependencyInjection;

namespace Iot.Broker.IntegrationTests.Protocol;

/// <summary>Stores many retained messages quickly, through the broker's own publish path (durable, as a client's would be).</summary>
internal static class RetainedSeed
{
    /// <summary>Publishes <c>{root}/{i / 1000}/{i % 1000}</c> = <paramref name="payload"/> retained at QoS 1 for every i below <paramref name="count"/>.</summary>
    public static async Task PublishAsync(BrokerFixture broker, string root, int count, string payload = "retained")
    {
        var publisher = broker.App.Services.GetRequiredService<IMqttPublisher>();
        var bytes = Encoding.UTF8.GetBytes(payload);
        var writes = new List<Task>(1000);
        for (var i = 0; i < count; i++)
        {
            writes.Add(publisher.PublishAsync(Topic(root, i), bytes, 1, retain: true));
            if (writes.Count == 1000)
            {
                await Task.WhenAll(writes);
                writes.Clear();
            }
        }

        await Task.WhenAll(writes);
    }

    public static string Topic(string root, int i) => $"{root}/{i / 1000}/{i % 1000}";
}
