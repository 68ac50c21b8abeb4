namespace Iot.Broker.Mqtt;

/// <summary>
/// Runs connection writers on the thread that produced their packets instead of waking a thread-pool thread for each.
/// A receive loop (or the acknowledgement loop) opens a batch around the synchronous handling of what it read;
/// a connection whose writer is idle and gets something to send joins the batch, and closing the batch runs those
/// writers inline: the PUBACK to the publisher and the PUBLISH to a subscriber leave with a send on the same thread
/// that read the PUBLISH, one hand-off fewer per message. At most <c>Iot:Mqtt:InlineWritersPerBatch</c> writers run
/// inline per batch (the rest go to the thread pool, so a large fan-out still uses every core).
/// </summary>
internal static class SendBatch
{
    [ThreadStatic]
    private static int t_depth;

    [ThreadStatic]
    private static List<OutboundWriter>? t_deferred;

    /// <summary>Opens a batch on this thread (batches nest; the outermost one runs the writers).</summary>
    public static void Enter() => t_depth++;

    /// <summary>Adds a connection's writer that must start; false when no batch is open or it is full (use the pool).</summary>
    public static bool TryDefer(OutboundWriter writer, int limit)
    {
        if (t_depth == 0 || limit == 0)
        {
            return false;
        }

        var deferred = t_deferred ??= new List<OutboundWriter>(8);
        if (deferred.Count >= limit)
        {
            return false;
        }

        deferred.Add(writer);
        return true;
    }

    /// <summary>Closes a batch; the outermost close runs the deferred writers on this thread. Call before any await.</summary>
    public static void Exit()
    {
        if (--t_depth > 0)
        {
            return;
        }

        var deferred = t_deferred;
        if (deferred is null || deferred.Count == 0)
        {
            return;
        }

        // Writers run with no batch open: what they queue (retained refills) starts writers through the pool.
        for (var i = 0; i < deferred.Count; i++)
        {
            deferred[i].RunInline();
        }

        deferred.Clear();
    }
}
