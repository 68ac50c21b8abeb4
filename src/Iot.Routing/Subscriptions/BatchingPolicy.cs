namespace Iot.Routing.Subscriptions;

/// <summary>Batching of webhook deliveries.</summary>
internal sealed class BatchingPolicy
{
    /// <summary>Events per request; default 1 (one structured CloudEvent); above 1 a JSON batch; range 1-5000.</summary>
    public int MaxEventsPerBatch { get; set; } = 1;

    /// <summary>Preferred size of a batch request in KiB (a single larger event still goes alone); default 64, range 1-1024.</summary>
    public int PreferredBatchSizeInKilobytes { get; set; } = 64;
}
