using Iot.Simulator.CommandLine;
using Iot.Simulator.Devices;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Iot.Simulator.Tests;

public sealed class CommandLineTests
{
    [Theory]
    [InlineData("mqtt://localhost", "Tcp", "localhost", 1883, "")]
    [InlineData("mqtt://127.0.0.1:18830", "Tcp", "127.0.0.1", 18830, "")]
    [InlineData("mqtts://broker.example:8884", "Tls", "broker.example", 8884, "")]
    [InlineData("mqtts://broker.example", "Tls", "broker.example", 8883, "")]
    [InlineData("ws://localhost:8080/mqtt", "WebSocket", "localhost", 8080, "/mqtt")]
    [InlineData("ws://localhost:8080", "WebSocket", "localhost", 8080, "/mqtt")]
    [InlineData("wss://iot.example/custom", "SecureWebSocket", "iot.example", 443, "/custom")]
    [InlineData("mqtt://[::1]:1883", "Tcp", "::1", 1883, "")]
    public void BrokerAddressTryParse_ValidUrl_TransportHostPortPath(string url, string transport, string host, int port, string path)
    {
        Assert.True(BrokerAddress.TryParse(url, out var address, out var error), error);

        Assert.Equal(new BrokerAddress(Enum.Parse<BrokerTransport>(transport), host, port, path), address);
    }

    [Theory]
    [InlineData("localhost:1883", "not a broker URL")]
    [InlineData("http://localhost:8080", "not supported")]
    [InlineData("mqtt://localhost:1883/topic", "has a path")]
    [InlineData("", "not a broker URL")]
    [InlineData("mqtt://", "not a broker URL")]
    public void BrokerAddressTryParse_InvalidUrl_ErrorSaysWhy(string url, string expected)
    {
        Assert.False(BrokerAddress.TryParse(url, out _, out var error));

        Assert.True(error!.Contains(expected, StringComparison.Ordinal), error);
    }

    [Fact]
    public void BrokerAddress_WebSocketUrl_IncludesPortAndPath()
    {
        Assert.True(BrokerAddress.TryParse("wss://iot.example/mqtt", out var address, out _));

        Assert.Equal("wss://iot.example:443/mqtt", address!.WebSocketUrl);
        Assert.True(address.UsesTls);
        Assert.True(address.IsWebSocket);
    }

    [Theory]
    [InlineData("250ms", 250)]
    [InlineData("1.5s", 1500)]
    [InlineData("5m", 300_000)]
    [InlineData("2min", 120_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("00:01:30", 90_000)]
    [InlineData("750", 750)]
    [InlineData(" 2S ", 2000)]
    public void DurationTryParse_Forms_Milliseconds(string text, double milliseconds)
    {
        Assert.True(DurationParser.TryParse(text, TimeSpan.FromMilliseconds(1), out var value));

        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("fast")]
    [InlineData("-1s")]
    [InlineData("1d")]
    [InlineData("s")]
    public void DurationTryParse_Garbage_False(string text)
    {
        Assert.False(DurationParser.TryParse(text, TimeSpan.FromSeconds(1), out _));
    }

    [Fact]
    public void Parse_NoArguments_Defaults()
    {
        var (options, errors) = SimulatorCommand.Parse();

        Assert.Empty(errors);
        Assert.NotNull(options);
        Assert.Equal(new BrokerAddress(BrokerTransport.Tcp, "localhost", 1883, ""), options.Broker);
        Assert.Equal(10, options.Devices);
        Assert.Equal("sim-0001", options.DeviceId(1));
        Assert.Equal(MqttProtocolVersion.V500, options.Protocol);
        Assert.Equal(MqttQualityOfServiceLevel.AtLeastOnce, options.Qos);
        Assert.Equal(TimeSpan.FromSeconds(1), options.Interval);
        Assert.Equal(TimeSpan.Zero, options.Duration);
        Assert.Equal([DeviceKind.Thermostat, DeviceKind.Environment, DeviceKind.Door], options.Kinds);
        Assert.False(options.RegistersDevices);
    }

    [Fact]
    public void Parse_EveryOption_Bound()
    {
        var (options, errors) = SimulatorCommand.Parse(
            "--broker", "ws://127.0.0.1:8080/mqtt", "--devices", "100", "--prefix", "lab-", "--kinds", "door,thermostat",
            "--protocol", "3.1.1", "--qos", "0", "--interval", "500ms", "--ramp-up", "10", "--duration", "2m", "--skew", "3s",
            "--out-of-order", "0.2", "--flaky", "0.1", "--flaky-disconnect", "5s", "--events", "4", "--alarm-threshold", "26",
            "--seed", "99", "--api-key", "k", "--insecure", "--progress-interval", "2", "--json-summary");

        Assert.Empty(errors);
        Assert.NotNull(options);
        Assert.Equal(BrokerTransport.WebSocket, options.Broker.Transport);
        Assert.Equal(100, options.Devices);
        Assert.Equal("lab-0042", options.DeviceId(42));
        Assert.Equal([DeviceKind.Door, DeviceKind.Thermostat], options.Kinds);
        Assert.Equal(MqttProtocolVersion.V311, options.Protocol);
        Assert.Equal(MqttQualityOfServiceLevel.AtMostOnce, options.Qos);
        Assert.Equal(TimeSpan.FromMilliseconds(500), options.Interval);
        Assert.Equal(TimeSpan.FromSeconds(10), options.RampUp);
        Assert.Equal(TimeSpan.FromMinutes(2), options.Duration);
        Assert.Equal(TimeSpan.FromSeconds(3), options.Skew);
        Assert.Equal(0.2, options.OutOfOrder);
        Assert.Equal(0.1, options.Flaky);
        Assert.Equal(TimeSpan.FromSeconds(5), options.FlakyDisconnect);
        Assert.Equal(4, options.EventsPerMinute);
        Assert.Equal(26, options.AlarmThreshold);
        Assert.Equal(99, options.Seed);
        Assert.True(options.Trust.Insecure);
        Assert.Equal(TimeSpan.FromSeconds(2), options.ProgressInterval);
        Assert.True(options.JsonSummary);

        // --api-key without --api-url: the API on the WebSocket URL's host and port.
        Assert.True(options.RegistersDevices);
        Assert.Equal(new Uri("http://127.0.0.1:8080/"), options.ApiUrl);
    }

    [Fact]
    public void Parse_ApiKeyWithTcpBroker_ApiOnPort8080OfTheBrokerHost()
    {
        var (options, _) = SimulatorCommand.Parse("--broker", "mqtt://iot.local:1883", "--api-key", "k");

        Assert.Equal(new Uri("http://iot.local:8080/"), options!.ApiUrl);
    }

    [Theory]
    [InlineData("--devices", "0", "--devices must be between 1 and 100000")]
    [InlineData("--qos", "3", "'3' not recognized")]
    [InlineData("--protocol", "4", "'4' not recognized")]
    [InlineData("--broker", "ftp://x", "not supported")]
    [InlineData("--interval", "10ms", "--interval must be at least 100ms")]
    [InlineData("--interval", "soon", "not a duration")]
    [InlineData("--out-of-order", "1.5", "--out-of-order must be between 0 and 1")]
    [InlineData("--flaky", "-0.1", "--flaky must be between 0 and 1")]
    [InlineData("--events", "1000", "--events must be between 0 and 600")]
    [InlineData("--kinds", "toaster", "'toaster' is not a device kind")]
    [InlineData("--prefix", "a/b", "--prefix")]
    [InlineData("--api-url", "ftp://x", "--api-url")]
    [InlineData("--password", "secret", "--password needs --username")]
    [InlineData("--devices", "many", "--devices 'many' is not a number")]
    [InlineData("--unknown", "1", "--unknown")]
    public void Parse_BadValue_ErrorNamesIt(string option, string value, string expected)
    {
        var (options, errors) = SimulatorCommand.Parse(option, value);

        Assert.Null(options);
        Assert.True(errors.Any(e => e.Contains(expected, StringComparison.Ordinal)), string.Join(" | ", errors));
    }

    [Fact]
    public void Parse_ApiKeyAndUsername_Rejected()
    {
        var (_, errors) = SimulatorCommand.Parse("--api-key", "k", "--username", "u");

        Assert.Contains(errors, e => e.Contains("not both", StringComparison.Ordinal));
    }

    [Fact]
    public void CreateProfiles_Seeded_KindsInTurnExactFlakyCountSkewInRangeAndRepeatable()
    {
        var (options, _) = SimulatorCommand.Parse("--devices", "40", "--flaky", "0.25", "--skew", "2s", "--seed", "3");

        var profiles = SimulatorRunner.CreateProfiles(options!);

        Assert.Equal(40, profiles.Count);
        Assert.Equal("sim-0001", profiles[0].Id);
        Assert.Equal([DeviceKind.Thermostat, DeviceKind.Environment, DeviceKind.Door, DeviceKind.Thermostat], profiles.Take(4).Select(p => p.Kind));
        Assert.Equal(10, profiles.Count(p => p.IsFlaky));
        Assert.All(profiles, p => Assert.InRange(p.ClockSkew, TimeSpan.FromSeconds(-2), TimeSpan.FromSeconds(2)));
        Assert.Equal(profiles, SimulatorRunner.CreateProfiles(options!));
    }
}
