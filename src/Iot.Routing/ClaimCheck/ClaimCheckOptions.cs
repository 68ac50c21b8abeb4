namespace Iot.Routing.ClaimCheck;

/// <summary>
/// Claim check for large payloads, bound from <c>Iot:ClaimCheck</c> (docs/configuration.md, "Claim check"): payloads
/// above <see cref="ThresholdBytes"/> on <see cref="Topics"/> (MQTT) and in HTTP sends to queues are stored as blobs and
/// replaced by a reference (docs/api.md, "Claim check").
/// </summary>
public sealed class ClaimCheckOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Iot:ClaimCheck";

    /// <summary>Whether claim check is on.</summary>
    /// <remarks>Default: false.</remarks>
    public bool Enabled { get; set; }

    /// <summary>A payload larger than this many bytes is claim-checked.</summary>
    /// <remarks>Default: 262144 (256 KiB). Range: 1024 to 268435456.</remarks>
    public int ThresholdBytes { get; set; } = 256 * 1024;

    /// <summary>The MQTT topic filters whose publishes are claim-checked (wildcards allowed).</summary>
    /// <remarks>Default: none (MQTT publishes are never claim-checked). At most 100 filters.</remarks>
    public List<string> Topics { get; set; } = [];

    /// <summary>Whether HTTP sends to queues (<c>POST /api/queues/{name}/messages</c>) are claim-checked.</summary>
    /// <remarks>Default: true.</remarks>
    public bool QueueSends { get; set; } = true;

    /// <summary>The largest HTTP queue send body accepted when it is claim-checked (smaller ones keep the 256 KiB limit).</summary>
    /// <remarks>
    /// Default: 31457280 (30 MiB). Range: <see cref="ThresholdBytes"/> to 1073741824. A body is also bounded by
    /// <c>Iot:Http:MaxRequestBodyBytes</c> (30 MiB by default); an MQTT payload by <c>Iot:Mqtt:MaxPacketSize</c>.
    /// </remarks>
    public long MaxPayloadBytes { get; set; } = 30L * 1024 * 1024;

    /// <summary>Where blobs are stored.</summary>
    /// <remarks>Default: <see cref="ClaimCheckStoreKind.Local"/>. Cluster mode needs <see cref="ClaimCheckStoreKind.AzureBlob"/>.</remarks>
    public ClaimCheckStoreKind Store { get; set; } = ClaimCheckStoreKind.Local;

    /// <summary>The local store's directory.</summary>
    /// <remarks>Default: <c>{Iot:DataDir}/claimcheck</c>.</remarks>
    public string? Directory { get; set; }

    /// <summary>The Azure Storage connection string (with an account key, so that SAS URLs can be made).</summary>
    /// <remarks>Default: none; required when <see cref="Store"/> is <c>AzureBlob</c>.</remarks>
    public string? AzureConnectionString { get; set; }

    /// <summary>The Azure Blob Storage container, created when missing.</summary>
    /// <remarks>Default: <c>iot-claimcheck</c>. 3 to 63 lowercase letters, digits and hyphens.</remarks>
    public string AzureContainer { get; set; } = "iot-claimcheck";

    /// <summary>How long a reference's URL reads its blob.</summary>
    /// <remarks>Default: 00:15:00. Range: 00:00:01 to 7.00:00:00.</remarks>
    public TimeSpan UrlLifetime { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>How long a committed blob is kept after it was written; then the sweeper deletes it.</summary>
    /// <remarks>Default: 7.00:00:00. Range: 00:00:01 to 3650.00:00:00.</remarks>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How long a pending blob (written, never committed: the broker died in between) is kept before the sweeper deletes it.</summary>
    /// <remarks>Default: 01:00:00. Range: 00:00:01 to <see cref="Retention"/>.</remarks>
    public TimeSpan OrphanGracePeriod { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How often the sweeper looks for expired blobs and orphans.</summary>
    /// <remarks>Default: 00:05:00. Range: 00:00:00.1 to 1.00:00:00.</remarks>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The broker's HTTP address as readers reach it (e.g. <c>https://iot.example.com</c>), put before the local store's URLs.</summary>
    /// <remarks>Default: none: the URL is a path (<c>/claimcheck/{id}?...</c>) to resolve against the broker's HTTP address.</remarks>
    public Uri? PublicBaseUrl { get; set; }
}
