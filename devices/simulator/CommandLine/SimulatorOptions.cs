using Iot.Simulator.Devices;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Iot.Simulator.CommandLine;

/// <summary>Everything one simulator run needs, as parsed and validated from the command line.</summary>
internal sealed record SimulatorOptions
{
    /// <summary>Where the devices connect.</summary>
    public required BrokerAddress Broker { get; init; }

    /// <summary>How many devices; 1 to 100 000.</summary>
    public int Devices { get; init; } = 10;

    /// <summary>Device ids are <c>{Prefix}{n:D4}</c>: <c>sim-0001</c>.</summary>
    public string Prefix { get; init; } = "sim-";

    /// <summary>The kinds, assigned round-robin: device 1 gets the first, device 2 the second...</summary>
    public IReadOnlyList<DeviceKind> Kinds { get; init; } = [DeviceKind.Thermostat, DeviceKind.Environment, DeviceKind.Door];

    /// <summary>MQTT 3.1.1 or 5.0.</summary>
    public MqttProtocolVersion Protocol { get; init; } = MqttProtocolVersion.V500;

    /// <summary>QoS of telemetry and events (answers are always QoS 1).</summary>
    public MqttQualityOfServiceLevel Qos { get; init; } = MqttQualityOfServiceLevel.AtLeastOnce;

    /// <summary>Telemetry interval of each device (until a <c>setInterval</c> command changes it).</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Connects are spread evenly over this time; zero connects all at once.</summary>
    public TimeSpan RampUp { get; init; }

    /// <summary>The run ends after this; zero runs until Ctrl+C.</summary>
    public TimeSpan Duration { get; init; }

    /// <summary>Each device's clock is off by a fixed amount in [-Skew, +Skew].</summary>
    public TimeSpan Skew { get; init; }

    /// <summary>Fraction (0..1) of telemetry messages held back and sent after the next one.</summary>
    public double OutOfOrder { get; init; }

    /// <summary>Fraction (0..1) of devices that misbehave: drop telemetry, answer late, drop their connection.</summary>
    public double Flaky { get; init; }

    /// <summary>Mean time between connection drops of a flaky device.</summary>
    public TimeSpan FlakyDisconnect { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Door openings per door sensor per minute (mean of a Poisson process).</summary>
    public double EventsPerMinute { get; init; } = 1;

    /// <summary>Temperature above which a <c>temperatureAlarm</c> event is raised (once per crossing).</summary>
    public double AlarmThreshold { get; init; } = 28;

    /// <summary>Seed of every random choice; the same seed gives the same devices and signals.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Shared MQTT user name (with <see cref="Password"/>); ignored for devices registered through the API.</summary>
    public string? Username { get; init; }

    /// <summary>Shared MQTT password.</summary>
    public string? Password { get; init; }

    /// <summary>The broker's HTTP API, for registering the devices; null registers nothing.</summary>
    public Uri? ApiUrl { get; init; }

    /// <summary>A service API key for <see cref="ApiUrl"/>.</summary>
    public string? ApiKey { get; init; }

    /// <summary>How the broker's TLS certificate is checked: the system's trust store, <c>--ca-file</c>, or not at all (<c>--insecure</c>).</summary>
    public ServerTrust Trust { get; init; } = ServerTrust.System;

    /// <summary>How often the status line is printed.</summary>
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Also print the final summary as one JSON line.</summary>
    public bool JsonSummary { get; init; }

    /// <summary>The id of device <paramref name="number"/> (1-based).</summary>
    public string DeviceId(int number) => $"{Prefix}{number:D4}";

    /// <summary>True when the devices get their own credentials from the API.</summary>
    public bool RegistersDevices => ApiUrl is not null && ApiKey is not null;
}
