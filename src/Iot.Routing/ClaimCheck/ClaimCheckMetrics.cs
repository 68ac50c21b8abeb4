using System.Diagnostics.Metrics;
using Iot.Routing.Hosting;

namespace Iot.Routing.ClaimCheck;

/// <summary>
/// The claim check's counters, on the routing meter (<see cref="RoutingMetrics.MeterName"/>), exported at <c>/metrics</c>
/// under the names below. Not a hot path (one blob write per large payload), so plain <see cref="Counter{T}"/>s.
/// </summary>
internal sealed class ClaimCheckMetrics
{
    public ClaimCheckMetrics(IMeterFactory? meterFactory = null)
    {
        var meter = meterFactory?.Create(RoutingMetrics.MeterName) ?? new Meter(RoutingMetrics.MeterName);
        Stored = meter.CreateCounter<long>("iot_claimcheck_blobs_stored_total", description: "Payloads stored as claim-check blobs (committed).");
        StoredBytes = meter.CreateCounter<long>("iot_claimcheck_bytes_stored_total", description: "Bytes of the payloads stored as claim-check blobs.");
        Resolved = meter.CreateCounter<long>("iot_claimcheck_blobs_resolved_total", description: "Claim-check blobs read back: for a resolving subscriber or receiver, or through a URL.");
        Deleted = meter.CreateCounter<long>("iot_claimcheck_blobs_deleted_total", description: "Committed claim-check blobs deleted: past Iot:ClaimCheck:Retention, or their message was refused.");
        OrphansSwept = meter.CreateCounter<long>("iot_claimcheck_orphans_swept_total", description: "Pending claim-check blobs (never committed) deleted after Iot:ClaimCheck:OrphanGracePeriod.");
    }

    public Counter<long> Stored { get; }

    public Counter<long> StoredBytes { get; }

    public Counter<long> Resolved { get; }

    public Counter<long> Deleted { get; }

    public Counter<long> OrphansSwept { get; }
}
