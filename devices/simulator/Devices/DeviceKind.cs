namespace Iot.Simulator.Devices;

/// <summary>What a simulated device measures.</summary>
internal enum DeviceKind
{
    /// <summary>Mains powered: temperature that follows a settable target, humidity; no battery.</summary>
    Thermostat,

    /// <summary>Battery powered: temperature, humidity, battery.</summary>
    Environment,

    /// <summary>Battery powered: door opened/closed events, temperature, battery.</summary>
    Door,
}
