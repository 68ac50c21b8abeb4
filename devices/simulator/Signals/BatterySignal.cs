namespace Iot.Simulator.Signals;

/// <summary>A battery in %: drains with time and with every message sent, never below 0.</summary>
internal sealed class BatterySignal(double initial, double drainPerHour, double costPerMessage)
{
    /// <summary>Below this level the device raises <c>batteryLow</c> (once).</summary>
    public const double LowThreshold = 20;

    private DateTimeOffset? _last;
    private bool _lowReported;

    /// <summary>The current level.</summary>
    public double Level { get; private set; } = Math.Clamp(initial, 0, 100);

    /// <summary>Drains for the time since the last sample and one message; true in <paramref name="crossedLow"/> the first time it falls under the threshold.</summary>
    public double Next(DateTimeOffset time, out bool crossedLow)
    {
        var hours = _last is { } last ? Math.Max(0, (time - last).TotalHours) : 0;
        _last = time;
        Level = Math.Max(0, Level - (drainPerHour * hours) - costPerMessage);
        crossedLow = !_lowReported && Level < LowThreshold;
        _lowReported |= crossedLow;
        return Level;
    }
}
