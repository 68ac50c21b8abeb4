namespace Iot.Simulator.Signals;

/// <summary>
/// A door that opens at random (a Poisson process of <c>openingsPerMinute</c>) and closes again after 2 to 30 s.
/// Evaluated at the device's sample times, so the events land on its telemetry ticks.
/// </summary>
internal sealed class DoorSignal(Random random, double openingsPerMinute)
{
    private static readonly TimeSpan MinOpen = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan MaxOpen = TimeSpan.FromSeconds(30);
    private DateTimeOffset? _last;
    private DateTimeOffset _closesAt;

    /// <summary>True while open.</summary>
    public bool IsOpen { get; private set; }

    /// <summary>Advances to <paramref name="time"/>: <c>true</c> opened, <c>false</c> closed, <c>null</c> no change.</summary>
    public bool? Next(DateTimeOffset time)
    {
        var seconds = _last is { } last ? Math.Max(0, (time - last).TotalSeconds) : 0;
        _last = time;
        if (IsOpen)
        {
            if (time >= _closesAt)
            {
                IsOpen = false;
                return false;
            }

            return null;
        }

        var probability = 1 - Math.Exp(-openingsPerMinute * seconds / 60);
        if (seconds > 0 && random.NextDouble() < probability)
        {
            IsOpen = true;
            _closesAt = time + MinOpen + ((MaxOpen - MinOpen) * random.NextDouble());
            return true;
        }

        return null;
    }
}
