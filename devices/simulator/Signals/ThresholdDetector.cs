namespace Iot.Simulator.Signals;

/// <summary>What a value did relative to a threshold.</summary>
internal enum ThresholdCrossing
{
    /// <summary>No change of state.</summary>
    None,

    /// <summary>It rose above the threshold.</summary>
    Raised,

    /// <summary>It fell back below the threshold minus the hysteresis.</summary>
    Cleared,
}

/// <summary>Raises once when a value goes above a threshold and clears once it is back below (threshold - hysteresis).</summary>
internal sealed class ThresholdDetector(double threshold, double hysteresis)
{
    /// <summary>The threshold.</summary>
    public double Threshold => threshold;

    /// <summary>True while raised.</summary>
    public bool IsRaised { get; private set; }

    /// <summary>Feeds one value.</summary>
    public ThresholdCrossing Update(double value)
    {
        if (!IsRaised && value > threshold)
        {
            IsRaised = true;
            return ThresholdCrossing.Raised;
        }

        if (IsRaised && value < threshold - hysteresis)
        {
            IsRaised = false;
            return ThresholdCrossing.Cleared;
        }

        return ThresholdCrossing.None;
    }
}
