namespace Iot.Simulator.Signals;

/// <summary>Relative humidity in %: falls as the temperature rises above its reference, with noise; within 0..100.</summary>
internal sealed class HumiditySignal(Random random, double baseline, double referenceTemperature)
{
    /// <summary>Percentage points lost per °C above the reference temperature.</summary>
    public const double PerDegree = 2.5;

    private const double Noise = 0.5;

    /// <summary>The reading for <paramref name="temperature"/>.</summary>
    public double Next(double temperature)
    {
        var value = baseline - (PerDegree * (temperature - referenceTemperature)) + (Noise * Gaussian.Next(random));
        return Math.Clamp(value, 0, 100);
    }
}
