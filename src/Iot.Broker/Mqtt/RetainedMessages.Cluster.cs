namespace Iot.Broker.Mqtt;

/// <summary>
/// Retained messages in cluster mode: a publish only checks the quotas and writes to the cluster's log
/// (<see cref="IRetainedReplication"/>); the index changes when the log's feed brings the change back
/// (<see cref="ApplyFromLog"/>), on the publishing node exactly as on every other. So every node's index is the log's
/// state at some sequence, the charges per owner are the same on every node, and a write the log refused is served
/// nowhere.
/// </summary>
/// <remarks>
/// A quota is checked on the publishing node against its index plus the charges of its own writes still in flight, so
/// one client cannot overrun its quota with a burst. Writes of one owner on two nodes at the same moment, and writes
/// acknowledged but not yet applied by the feed, can together take the owner a little over (the window is the time a
/// write takes to come back through the feed, about a millisecond); what was written is then applied everywhere.
/// </remarks>
internal sealed partial class RetainedMessages
{
    // Charges of this node's writes that the log has not answered yet; guarded by _gate. Per owner id.
    private readonly Dictionary<int, Reservation> _inFlight = [];
    private Reservation _inFlightTotal;

    /// <summary>
    /// Completes when retained messages may be sent for a SUBSCRIBE that arrived now: at once on a single node, in
    /// cluster mode when the index holds everything acknowledged before (<see cref="IRetainedReplication.WhenCurrentAsync"/>).
    /// </summary>
    public Task WhenCurrentAsync() => replication is null ? Task.CompletedTask : replication.WhenCurrentAsync();

    /// <summary>
    /// Applies a set or (empty payload) clear that came from the cluster's log, in the log's order: charged to the
    /// identity named <paramref name="owner"/> (null: the broker's own), never refused, never written anywhere.
    /// </summary>
    public void ApplyFromLog(BrokerMessage message, string? owner)
    {
        ArgumentNullException.ThrowIfNull(message);
        lock (_gate)
        {
            _index.TryGet(message.Topic, out var previous);
            if (message.Payload.IsEmpty || message.IsExpired(context.NowUnixMs))
            {
                if (previous is not null && _index.Remove(message.Topic))
                {
                    Release(previous);
                }

                return;
            }

            if (owner is not null)
            {
                var charged = Quota.OwnerFor(owner);
                message.RetainedOwnerId = charged.Id;
                Charge(charged, RetainedQuota.SizeOf(message), 1);
            }

            if (previous is not null)
            {
                Release(previous);
            }

            _index.Set(message.Topic, message);
        }
    }

    /// <summary>Checks the quotas and writes to the log; false (counted) when a quota refused it: nothing written.</summary>
    private bool ApplyReplicated(IRetainedReplication log, BrokerMessage message, ref DurableWrites durable)
    {
        RetainedOwner? owner = null;
        var reservation = default(Reservation);
        if (!message.Payload.IsEmpty && Quota.Get(message.RetainedOwnerId) is { } charged)
        {
            owner = charged;
            lock (_gate)
            {
                _index.TryGet(message.Topic, out var previous);
                if (!TryReserve(owner, message, previous, out reservation))
                {
                    return false;
                }
            }
        }

        // A clear is written even when this node's index has nothing for the topic: the index may not have applied a
        // set acknowledged a moment ago (here or on another node), and the clear must land after it.
        var write = log.WriteAsync(message, owner?.Name);
        if (!reservation.IsEmpty)
        {
            _ = write.ContinueWith(
                static (_, state) =>
                {
                    var (self, id, taken) = ((RetainedMessages, int, Reservation))state!;
                    self.EndReservation(id, taken);
                },
                (this, owner!.Id, reservation), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        durable.Add(write);
        return true;
    }

    /// <summary>
    /// Like <c>TryCharge</c>, against the index plus this node's writes in flight; takes the growth as a reservation
    /// until the log answers.
    /// </summary>
    private bool TryReserve(RetainedOwner owner, BrokerMessage message, BrokerMessage? previous, out Reservation reservation)
    {
        var size = RetainedQuota.SizeOf(message);
        var previousSize = previous is null ? 0 : RetainedQuota.SizeOf(previous);
        var sameOwner = previous is not null && previous.RetainedOwnerId == owner.Id;
        var previousOwned = previous is not null && previous.RetainedOwnerId != 0;
        reservation = new Reservation(sameOwner ? 0 : 1, size - (sameOwner ? previousSize : 0));
        var total = new Reservation(previousOwned ? 0 : 1, size - (previousOwned ? previousSize : 0));
        var mine = _inFlight.GetValueOrDefault(owner.Id);
        if (Exceeds(owner.Count + mine.Count, reservation.Count, owner.MaxCount) || Exceeds(owner.Bytes + mine.Bytes, reservation.Bytes, owner.MaxBytes))
        {
            context.Metrics.LimitHit(LimitKind.RetainedPerIdentity);
            return false;
        }

        if (Exceeds(_ownedCount + _inFlightTotal.Count, total.Count, Quota.MaxTotalCount)
            || Exceeds(_ownedBytes + _inFlightTotal.Bytes, total.Bytes, Quota.MaxTotalBytes))
        {
            context.Metrics.LimitHit(LimitKind.RetainedTotal);
            return false;
        }

        // Only growth is held back: a replacement that shrinks frees nothing until it is applied.
        reservation = reservation.Growth;
        if (!reservation.IsEmpty)
        {
            _inFlight[owner.Id] = mine.Add(reservation);
            _inFlightTotal = _inFlightTotal.Add(reservation);
        }

        return true;
    }

    private void EndReservation(int ownerId, Reservation taken)
    {
        lock (_gate)
        {
            var left = _inFlight.GetValueOrDefault(ownerId).Add(taken.Negate());
            if (left.IsEmpty)
            {
                _inFlight.Remove(ownerId);
            }
            else
            {
                _inFlight[ownerId] = left;
            }

            _inFlightTotal = _inFlightTotal.Add(taken.Negate());
        }
    }

    /// <summary>A count and a size held for a write in flight.</summary>
    private readonly record struct Reservation(int Count, long Bytes)
    {
        public bool IsEmpty => Count == 0 && Bytes == 0;

        public Reservation Growth => new(Math.Max(0, Count), Math.Max(0, Bytes));

        public Reservation Add(Reservation other) => new(Count + other.Count, Bytes + other.Bytes);

        public Reservation Negate() => new(-Count, -Bytes);
    }
}
