using System.Globalization;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Streams;

/// <summary>
/// Telemetry and tumbling-window aggregates from ten devices reach a real influxd through the broker, and stopping
/// influxd in the middle loses no point: the sink commits its offsets only after InfluxDB accepted a batch.
/// </summary>
[Collection(InfluxdCollectionDefinition.Name)]
[Trait("Category", "Integration")]
[Trait("Category", "Slow")]
public sealed class StreamsInfluxEndToEndTests(InfluxFixture influx)
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task TenDevices_InfluxdStoppedMidway_EveryTelemetryPointAndAggregateArrives()
    {
        await using var broker = await BrokerFixture.StartAsync(
            "--Iot:Streams:Streams:0:Name=aggregates",
            "--Iot:Streams:Streams:0:Partitions=2",
            "--Iot:Streams:Windows:0:Name=t10",
            "--Iot:Streams:Windows:0:Size=00:00:10",
            "--Iot:Streams:Windows:0:Tolerance=00:00:01",
            "--Iot:Streams:Windows:0:Fields:0=temperature",
            "--Iot:Streams:Windows:0:IdleAdvance=false",
            "--Iot:Streams:Windows:0:OutputStream=aggregates",
            "--Iot:Influx:Enabled=true",
            $"--Iot:Influx:Url={influx.Url}",
            $"--Iot:Influx:Database={InfluxFixture.Database}",
            "--Iot:Influx:Streams:0=telemetry",
            "--Iot:Influx:Streams:1=aggregates",
            "--Iot:Influx:FlushInterval=00:00:00.050",
            "--Iot:Influx:MinRetryDelay=00:00:00.050",
            "--Iot:Influx:MaxRetryDelay=00:00:00.500",
            "--Iot:Influx:RequestTimeout=00:00:02");
        var devices = new List<IMqttClient>();
        try
        {
            for (int d = 0; d < 10; d++)
            {
                var device = new MqttClientFactory().CreateMqttClient();
                await device.ConnectAsync(broker.CreateMqttClientOptions($"influx-dev-{d}"));
                devices.Add(device);
            }

            async Task PublishSecondsAsync(IEnumerable<int> seconds)
            {
                foreach (var second in seconds)
                {
                    await Task.WhenAll(devices.Select((device, d) => PublishAsync(device, d, second)));
                }
            }

            // 0-9 s closes nothing yet; the points reach influxd.
            await PublishSecondsAsync(Enumerable.Range(0, 10));
            await Eventually.WaitUntilAsync(async () => await TelemetryCountAsync() == 100, TimeSpan.FromSeconds(30), "100 telemetry points");

            // influxd goes away; 10-29 s are published and acknowledged meanwhile, closing [0,10) and [10,20).
            await influx.StopAsync();
            await PublishSecondsAsync(Enumerable.Range(10, 20));

            // The long form holds the outage longer (IOT_INFLUX_OUTAGE_SECONDS=60 for the issue's "a minute"); this
            // wait makes the outage, it asserts nothing.
            if (int.TryParse(Environment.GetEnvironmentVariable("IOT_INFLUX_OUTAGE_SECONDS"), CultureInfo.InvariantCulture, out var outage) && outage > 0)
            {
                await Task.Delay(TimeSpan.FromSeconds(outage));
            }

            await influx.RestartAsync();
            await Eventually.WaitUntilAsync(async () => await TelemetryCountAsync() == 300, TimeSpan.FromSeconds(60), "300 telemetry points");
            await Eventually.WaitUntilAsync(async () => await AggregateCountAsync() == 20, TimeSpan.FromSeconds(60), "20 aggregate points");

            var avg = await influx.ScalarAsync($"SELECT temperature_avg FROM aggregates WHERE \"key\" = 'influx-dev-3' AND time = '{T0.AddSeconds(20):O}'"); // [10, 20): time is the window end
            Assert.Equal(3 * 100 + 14.5, avg, 9);
        }
        finally
        {
            foreach (var device in devices)
            {
                device.Dispose();
            }
        }
    }

    private async Task<double> TelemetryCountAsync() =>
        await influx.ScalarAsync("SELECT count(temperature) FROM telemetry WHERE \"key\" =~ /^influx-dev-/");

    private async Task<double> AggregateCountAsync() =>
        await influx.ScalarAsync("SELECT count(temperature_avg) FROM aggregates WHERE \"key\" =~ /^influx-dev-/");

    private static async Task PublishAsync(IMqttClient device, int d, int second)
    {
        var payload = string.Create(CultureInfo.InvariantCulture, $"{{\"temperature\":{d * 100 + second},\"ts\":{T0.AddSeconds(second).ToUnixTimeMilliseconds()}}}");
        var result = await device.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"devices/influx-dev-{d}/telemetry").WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        Assert.True(result.IsSuccess, $"publish of device {d} at {second} s: {result.ReasonCode}");
    }
}
