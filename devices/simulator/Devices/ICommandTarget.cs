namespace Iot.Simulator.Devices;

/// <summary>What commands may read and change on a device.</summary>
internal interface ICommandTarget
{
    /// <summary>What the device is.</summary>
    DeviceKind Kind { get; }

    /// <summary>Time since the device (re)started.</summary>
    TimeSpan Uptime { get; }

    /// <summary>The telemetry interval (<c>setInterval</c>).</summary>
    TimeSpan Interval { get; set; }

    /// <summary>The temperature set point's target (<c>setTarget</c>).</summary>
    double TargetTemperature { get; set; }
}
