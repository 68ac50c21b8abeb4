namespace Iot.Simulator.Devices;

/// <summary>Who a device is and how it behaves, fixed for the run (chosen from the seed).</summary>
/// <param name="Id">Device id, MQTT client id and user name.</param>
/// <param name="Kind">What it measures.</param>
/// <param name="Seed">Seed of its signals and of its random behaviour.</param>
/// <param name="ClockSkew">How far its clock is off; added to every <c>ts</c>.</param>
/// <param name="IsFlaky">Drops telemetry, answers late and drops its connection now and then.</param>
internal sealed record DeviceProfile(string Id, DeviceKind Kind, int Seed, TimeSpan ClockSkew, bool IsFlaky);
