using System.ComponentModel.DataAnnotations;

namespace Iot.Broker.Hosting.Backup;

/// <summary>Online backups (<c>Iot:Backup</c>) and restoring one at start (<c>Iot:Restore:From</c>); docs/operations.md.</summary>
public sealed class BackupOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Iot:Backup";

    /// <summary>
    /// Where backups are written, one directory each; default <c>{Iot:DataDir}/backups</c>. Same disk or not, copy
    /// them off the machine (<c>GET /api/backups/{id}/archive</c>, <c>iot backups download</c>).
    /// </summary>
    public string? Directory { get; set; }

    /// <summary>Backups kept; the oldest beyond it is deleted when a new one completes. Default 5.</summary>
    [Range(1, 1000)]
    public int MaxBackups { get; set; } = 5;
}
