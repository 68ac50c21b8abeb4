using System.ComponentModel.DataAnnotations;

namespace Iot.Broker.Hosting.Health;

/// <summary>Settings of the readiness probe (<c>Iot:Health</c>; docs/configuration.md).</summary>
public sealed class HealthOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Iot:Health";

    /// <summary>
    /// Free space the data directory's file system must have for <c>/healthz/ready</c> to answer 200 (bytes; 0: not
    /// checked). Default 100 MiB: a broker that can no longer store what it acknowledges should get no new traffic.
    /// </summary>
    [Range(0, long.MaxValue)]
    public long MinFreeDiskBytes { get; set; } = 100L * 1024 * 1024;

    /// <summary>
    /// How often the <c>stores</c> check writes to each store (requests in between get its last result). Default 5 s.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan StoreProbeInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long one store's probe write may take before the store counts as unable to write. Default 5 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan StoreProbeTimeout { get; set; } = TimeSpan.FromSeconds(5);
}
