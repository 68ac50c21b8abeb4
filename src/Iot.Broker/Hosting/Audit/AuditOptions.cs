using System.ComponentModel.DataAnnotations;

namespace Iot.Broker.Hosting.Audit;

/// <summary>The audit log (<c>Iot:Audit</c>; docs/configuration.md, docs/operations.md "Audit log").</summary>
public sealed class AuditOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Iot:Audit";

    /// <summary>How long entries are kept. Default 90 days.</summary>
    [Range(typeof(TimeSpan), "01:00:00", "3650.00:00:00")]
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(90);

    /// <summary>
    /// The most entries kept, oldest deleted first: a bound on the disk the log takes whatever callers do. Default
    /// 1 000 000 (about 200 MB).
    /// </summary>
    [Range(1000, 100_000_000)]
    public long MaxEntries { get; set; } = 1_000_000;

    /// <summary>How often the retention runs. Default 1 hour.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan TrimInterval { get; set; } = TimeSpan.FromHours(1);
}
