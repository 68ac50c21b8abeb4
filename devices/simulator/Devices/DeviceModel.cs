using Iot.Simulator.Signals;

namespace Iot.Simulator.Devices;

/// <summary>A discrete event: published on <c>devices/{id}/events/{Type}</c> with its fields as JSON.</summary>
internal sealed record DeviceEvent(string Type, IReadOnlyList<KeyValuePair<string, object>> Fields);

/// <summary>One telemetry sample: numeric fields in a stable order, plus the events it gave rise to.</summary>
internal sealed record DeviceSample(IReadOnlyList<KeyValuePair<string, double>> Fields, IReadOnlyList<DeviceEvent> Events);

/// <summary>
/// The physics of one device of a <see cref="DeviceKind"/>, free of MQTT and clocks: given sample times it produces
/// readings and events. Deterministic for a seed. Not thread-safe: one device loop samples it (commands change the
/// target under the device's lock).
/// </summary>
internal sealed class DeviceModel
{
    private const double HumidityReference = 21;
    private readonly TemperatureSignal _temperature;
    private readonly HumiditySignal? _humidity;
    private readonly BatterySignal? _battery;
    private readonly DoorSignal? _door;
    private readonly ThresholdDetector _alarm;

    /// <param name="kind">What the device measures.</param>
    /// <param name="random">The device's own seeded random source.</param>
    /// <param name="alarmThreshold">Temperature that raises <c>temperatureAlarm</c>.</param>
    /// <param name="doorOpeningsPerMinute">For door sensors: mean openings per minute.</param>
    public DeviceModel(DeviceKind kind, Random random, double alarmThreshold, double doorOpeningsPerMinute)
    {
        ArgumentNullException.ThrowIfNull(random);
        Kind = kind;

        // Rooms differ: each device starts from its own set point between 19 and 23 °C.
        var target = Math.Round(19 + (4 * random.NextDouble()), 1);
        _temperature = kind switch
        {
            DeviceKind.Thermostat => new TemperatureSignal(random, target, dailyAmplitude: 1.0, noise: 0.1, TimeSpan.FromSeconds(30)),
            DeviceKind.Environment => new TemperatureSignal(random, target, dailyAmplitude: 3.0, noise: 0.2, TimeSpan.FromMinutes(2)),
            _ => new TemperatureSignal(random, target, dailyAmplitude: 1.5, noise: 0.15, TimeSpan.FromMinutes(2)),
        };
        if (kind is DeviceKind.Thermostat or DeviceKind.Environment)
        {
            _humidity = new HumiditySignal(random, baseline: 40 + (15 * random.NextDouble()), HumidityReference);
        }

        if (kind is DeviceKind.Environment or DeviceKind.Door)
        {
            // Some batteries start nearly flat, so that a run of a few minutes sees batteryLow now and then.
            _battery = new BatterySignal(initial: 20.5 + (79.5 * random.NextDouble()), drainPerHour: 0.5, costPerMessage: 0.002);
        }

        if (kind is DeviceKind.Door)
        {
            _door = new DoorSignal(random, doorOpeningsPerMinute);
        }

        _alarm = new ThresholdDetector(alarmThreshold, hysteresis: 0.5);
    }

    /// <summary>What the device measures.</summary>
    public DeviceKind Kind { get; }

    /// <summary>The temperature the device is heading for (<c>setTarget</c>).</summary>
    public double TargetTemperature
    {
        get => _temperature.Target;
        set => _temperature.Target = value;
    }

    /// <summary>The battery level, or null for mains-powered kinds.</summary>
    public double? Battery => _battery?.Level;

    /// <summary>Samples every signal at <paramref name="time"/> (the device's own clock).</summary>
    public DeviceSample Sample(DateTimeOffset time)
    {
        var fields = new List<KeyValuePair<string, double>>(4);
        var events = new List<DeviceEvent>();
        var temperature = Math.Round(_temperature.Next(time), 2);
        fields.Add(new("temperature", temperature));
        if (_humidity is not null)
        {
            fields.Add(new("humidity", Math.Round(_humidity.Next(temperature), 1)));
        }

        if (_battery is not null)
        {
            var level = Math.Round(_battery.Next(time, out var crossedLow), 2);
            fields.Add(new("battery", level));
            if (crossedLow)
            {
                events.Add(new DeviceEvent("batteryLow", [new("battery", level), new("threshold", BatterySignal.LowThreshold)]));
            }
        }

        if (_door is not null)
        {
            if (_door.Next(time) is { } opened)
            {
                events.Add(new DeviceEvent(opened ? "doorOpened" : "doorClosed", []));
            }

            fields.Add(new("door", _door.IsOpen ? 1 : 0));
        }

        switch (_alarm.Update(temperature))
        {
            case ThresholdCrossing.Raised:
                events.Add(new DeviceEvent("temperatureAlarm", [new("state", "raised"), new("temperature", temperature), new("threshold", _alarm.Threshold)]));
                break;
            case ThresholdCrossing.Cleared:
                events.Add(new DeviceEvent("temperatureAlarm", [new("state", "cleared"), new("temperature", temperature), new("threshold", _alarm.Threshold)]));
                break;
        }

        return new DeviceSample(fields, events);
    }
}
