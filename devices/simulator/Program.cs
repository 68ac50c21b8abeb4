using System.Globalization;
using System.Text.Json;
using MQTTnet;
using MQTTnet.Protocol;

// A first simulator: N devices publish temperature telemetry to devices/{id}/telemetry.
// Usage: iot-simulator [--host 127.0.0.1] [--port 1883] [--devices 10] [--interval-ms 1000] [--duration-s 0]
var options = ParseArgs(args);
using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cts.Cancel();
};
if (options.DurationSeconds > 0)
{
    cts.CancelAfter(TimeSpan.FromSeconds(options.DurationSeconds));
}

long sent = 0;
var factory = new MqttClientFactory();
var devices = Enumerable.Range(1, options.Devices).Select(async i =>
{
    var deviceId = $"sim-{i:D4}";
    using var client = factory.CreateMqttClient();
    await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(options.Host, options.Port).WithClientId(deviceId).Build(), cts.Token);
    var random = new Random(i);
    var temperature = 20 + (random.NextDouble() * 5);
    try
    {
        while (!cts.IsCancellationRequested)
        {
            temperature += (random.NextDouble() - 0.5) * 0.2;
            var payload = JsonSerializer.Serialize(new { ts = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), temperature = Math.Round(temperature, 2) });
            await client.PublishAsync(new MqttApplicationMessageBuilder()
                .WithTopic($"devices/{deviceId}/telemetry")
                .WithPayload(payload)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .Build(), cts.Token);
            Interlocked.Increment(ref sent);
            await Task.Delay(options.IntervalMs, cts.Token);
        }
    }
    catch (OperationCanceledException)
    {
        // Duration reached or Ctrl+C.
    }

    await client.DisconnectAsync(cancellationToken: CancellationToken.None);
}).ToArray();

await Task.WhenAll(devices);
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{options.Devices} devices sent {Interlocked.Read(ref sent)} messages"));

static Options ParseArgs(string[] args)
{
    var options = new Options();
    for (var i = 0; i + 1 < args.Length; i += 2)
    {
        var value = args[i + 1];
        switch (args[i])
        {
            case "--host": options.Host = value; break;
            case "--port": options.Port = int.Parse(value, CultureInfo.InvariantCulture); break;
            case "--devices": options.Devices = int.Parse(value, CultureInfo.InvariantCulture); break;
            case "--interval-ms": options.IntervalMs = int.Parse(value, CultureInfo.InvariantCulture); break;
            case "--duration-s": options.DurationSeconds = int.Parse(value, CultureInfo.InvariantCulture); break;
            default: throw new ArgumentException($"unknown option {args[i]}");
        }
    }

    return options;
}

internal sealed class Options
{
    public string Host { get; set; } = "127.0.0.1";

    public int Port { get; set; } = 1883;

    public int Devices { get; set; } = 10;

    public int IntervalMs { get; set; } = 1000;

    public int DurationSeconds { get; set; }
}
