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
}
