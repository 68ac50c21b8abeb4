namespace Iot.Simulator.Signals;

/// <summary>Normally distributed numbers from a seeded <see cref="Random"/> (Box-Muller).</summary>
internal static class Gaussian
{
    /// <summary>A sample of N(0, 1).</summary>
    public static double Next(Random random)
    {
        ArgumentNullException.ThrowIfNull(random);

        // 1 - NextDouble() is in (0, 1], so the logarithm is finite.
        var u1 = 1.0 - random.NextDouble();
        var u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}
