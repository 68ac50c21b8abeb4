namespace Iot.Simulator.Signals;

/// <summary>
/// A temperature in °C: a set point that follows its target with a time constant, plus a daily sinusoid (24 h
/// period by the UTC clock, warmest at 15:00), a slow mean-reverting random drift and gaussian noise.
/// Deterministic for a seed and a sequence of sample times.
/// </summary>
internal sealed class TemperatureSignal
{
    private const double DriftTimeConstantSeconds = 1800;
    private const double DriftSigmaPerSqrtSecond = 0.02;
    private readonly Random _random;
    private readonly double _dailyAmplitude;
    private readonly double _noise;
    private readonly TimeSpan _response;
    private DateTimeOffset? _last;
    private double _drift;

    /// <param name="random">The device's own seeded random source.</param>
    /// <param name="target">Initial set point and target.</param>
    /// <param name="dailyAmplitude">Half the day-night swing, in °C.</param>
    /// <param name="noise">Standard deviation of the measurement noise, in °C.</param>
    /// <param name="response">Time constant with which the set point follows a new target.</param>
    public TemperatureSignal(Random random, double target, double dailyAmplitude, double noise, TimeSpan response)
    {
        ArgumentNullException.ThrowIfNull(random);
        _random = random;
        Target = target;
        SetPoint = target;
        _dailyAmplitude = dailyAmplitude;
        _noise = noise;
        _response = response;
    }

    /// <summary>Where the set point is heading (<c>setTarget</c>).</summary>
    public double Target { get; set; }

    /// <summary>The current set point, moving towards <see cref="Target"/>.</summary>
    public double SetPoint { get; private set; }

    /// <summary>The daily cycle's contribution at <paramref name="time"/>: 0 at 09:00 and 21:00 UTC, highest at 15:00.</summary>
    public double DailyCycle(DateTimeOffset time)
    {
        var hours = time.UtcDateTime.TimeOfDay.TotalHours;
        return _dailyAmplitude * Math.Sin(2 * Math.PI * (hours - 9) / 24);
    }

    /// <summary>The reading at <paramref name="time"/>; samples must come in time order.</summary>
    public double Next(DateTimeOffset time)
    {
        var seconds = _last is { } last ? Math.Clamp((time - last).TotalSeconds, 0, 3600) : 0;
        _last = time;
        if (seconds > 0)
        {
            SetPoint += (Target - SetPoint) * (1 - Math.Exp(-seconds / Math.Max(_response.TotalSeconds, 0.001)));

            // Ornstein-Uhlenbeck: wanders slowly, always pulled back towards zero.
            _drift += (-_drift * seconds / DriftTimeConstantSeconds) + (DriftSigmaPerSqrtSecond * Math.Sqrt(seconds) * Gaussian.Next(_random));
        }

        return SetPoint + DailyCycle(time) + _drift + (_noise * Gaussian.Next(_random));
    }
}
