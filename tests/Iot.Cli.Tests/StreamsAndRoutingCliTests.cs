using Iot.TestUtilities;

namespace Iot.Cli.Tests;

/// <summary>
/// <c>iot streams</c>, <c>routes</c> and <c>subscriptions</c>: a route into a new stream, a device's telemetry read back
/// through the CLI, a consumer group's lag.
/// </summary>
[Collection(CliBrokerCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class StreamsAndRoutingCliTests(CliBrokerFixture broker)
{
    [Fact]
    public async Task RouteIntoNewStream_DeviceTelemetry_ReadAndLag()
    {
        var deviceId = TestIds.ClientId("strm");
        var stream = "s-" + Guid.NewGuid().ToString("N")[..12];
        var route = "r-" + stream;

        var created = (await broker.IotAsync("streams", "create", stream, "--partitions", "1", "--retention", "1h")).ExpectExit(0);
        Assert.Equal("1", created.Property("Partitions"));
        (await broker.IotAsync("streams", "create", stream, "--partitions", "2")).ExpectExit(1);

        var routed = (await broker.IotAsync("routes", "set", route, "--source", $"devices/{deviceId}/telemetry", "--to", $"stream:{stream}",
            "--condition", """{"operatorType":"NumberGreaterThan","key":"data.temperature","value":20}""")).ExpectExit(0);
        Assert.Equal($"stream:{stream}", routed.Property("Destination"));
        var routes = (await broker.IotAsync("routes", "list")).ExpectExit(0).TableRows();
        Assert.Equal([route, $"devices/{deviceId}/telemetry", $"stream:{stream}", "1", "true", "api", "0"], routes.Single(r => r[0] == route));

        var password = (await broker.IotAsync("devices", "create", deviceId, "--json")).ExpectExit(0).Json().GetProperty("password").GetString()!;
        await using (var device = await AnsweringDevice.ConnectAsync(broker, deviceId, password, answer: false))
        {
            // QoS 1: acknowledged after the record is durable in the stream; 19.5 does not meet the route's condition.
            await device.PublishTelemetryAsync("""{"temperature":19.5}""");
            await device.PublishTelemetryAsync("""{"temperature":21.5}""");
        }

        var read = (await broker.IotAsync("streams", "read", stream, "--wait", "10s")).ExpectExit(0).TableRows();
        Assert.Equal(["PARTITION", "OFFSET", "TIMESTAMP", "KEY", "TOPIC", "PAYLOAD"], read[0]);
        var record = Assert.Single(read.Skip(1));
        Assert.Equal(["0", "0"], record[..2]);
        Assert.Equal([deviceId, $"devices/{deviceId}/telemetry", """{"temperature":21.5}"""], record[3..]);

        var json = (await broker.IotAsync("streams", "read", stream, "--partition", "0", "--json")).ExpectExit(0).Json();
        Assert.Equal(1, json.GetProperty("nextOffset").GetInt64());

        (await broker.IotAsync("streams", "create-group", stream, "audit")).ExpectExit(0);
        Assert.Equal([["GROUP", "LAG"], ["audit", "1"]], (await broker.IotAsync("streams", "groups", stream)).ExpectExit(0).TableRows());
        var lag = (await broker.IotAsync("streams", "lag", stream, "audit")).ExpectExit(0).TableRows();
        Assert.Equal(["PARTITION", "COMMITTED", "END", "LAG"], lag[0][..4]);
        Assert.Equal(["0", "-", "1", "1", "-"], lag[1]);
        Assert.Equal(["total", "1"], lag[2]);
        var lagJson = (await broker.IotAsync("streams", "lag", stream, "audit", "--json")).ExpectExit(0).Json();
        Assert.Equal(1, lagJson.GetProperty("partitions")[0].GetProperty("lag").GetInt64());

        var listed = (await broker.IotAsync("streams", "list")).ExpectExit(0).TableRows();
        Assert.Equal([stream, "1", "1", "01:00:00", "-"], listed.Single(r => r[0] == stream));

        (await broker.IotAsync("streams", "delete-group", stream, "audit")).ExpectExit(0);
        (await broker.IotAsync("routes", "delete", route)).ExpectExit(0);
        (await broker.IotAsync("routes", "get", route)).ExpectExit(1);
        Assert.StartsWith("error: 409 ", (await broker.IotAsync("routes", "delete", "$default")).ExpectExit(1).StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PullSubscription_CreateListDeadLettersRedeliverDelete()
    {
        var name = "sub-" + Guid.NewGuid().ToString("N")[..12];
        var created = (await broker.IotAsync("subscriptions", "create", name, "--pull", "--topic-filter", "devices/+/events/#",
            "--event-type", "iot.device.event.alarm", "--max-delivery-attempts", "5", "--event-ttl", "2h")).ExpectExit(0);
        Assert.Equal("pull", created.Property("Destination"));

        var json = (await broker.IotAsync("subscriptions", "get", name, "--json")).ExpectExit(0).Json();
        Assert.Equal("devices/+/events/#", json.GetProperty("filter").GetProperty("topicFilter").GetString());
        Assert.Equal("02:00:00", json.GetProperty("retryPolicy").GetProperty("eventTtl").GetString());
        Assert.Equal(5, json.GetProperty("retryPolicy").GetProperty("maxDeliveryAttempts").GetInt32());

        var list = (await broker.IotAsync("subscriptions", "list")).ExpectExit(0).TableRows();
        Assert.Equal([name, "pull", "devices/+/events/#", "0", "0"], list.Single(r => r[0] == name));
        Assert.Equal("No dead letters.", (await broker.IotAsync("subscriptions", "deadletters", name)).ExpectExit(0).StandardOutput.Trim());
        Assert.Equal(0, (await broker.IotAsync("subscriptions", "redeliver", name, "--json")).ExpectExit(0).Json().GetProperty("redelivered").GetInt32());

        // Exactly one destination; the API's own check of a field (a webhook to loopback) comes back as its problem.
        (await broker.IotAsync("subscriptions", "create", name, "--pull", "--mqtt", "x/y")).ExpectExit(2);
        var refused = (await broker.IotAsync("subscriptions", "create", name, "--webhook", "http://127.0.0.1:9/hook")).ExpectExit(1);
        Assert.StartsWith("error: 400 Webhook destination not allowed", refused.StandardError, StringComparison.Ordinal);

        (await broker.IotAsync("subscriptions", "delete", name)).ExpectExit(0);
        (await broker.IotAsync("subscriptions", "get", name)).ExpectExit(1);
    }
}
