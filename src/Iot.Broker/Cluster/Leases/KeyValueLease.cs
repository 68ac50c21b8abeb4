using Iot.Messaging.Leases;
using NATS.Client.KeyValueStore;
using Iot.Messaging.JetStream;

namespace Iot.Broker.Cluster.Leases;

/// <summary>
/// A lease this node holds in <c>iot-leases</c>: renews it every <see cref="LeaseSchedule.RenewInterval"/> by a
/// compare-and-set on the revision it last wrote. <see cref="Lost"/> fires when a renewal is refused (another node took
/// the lease) or when <see cref="LeaseSchedule.GiveUpAfter"/> has passed on this node's clock since the last renewal
/// that succeeded was sent (a timer, so it fires even while a renewal hangs), which is before any other node may
/// judge the lease expired. Owns its revision (written only by its renew loop) and the lost source.
/// </summary>
internal sealed class KeyValueLease : ISingletonLease
{
    private readonly KeyValueSingletonLeases _owner;
    private readonly INatsKVStore _store;
    private readonly string _key;
    private readonly CancellationTokenSource _lost;
    private readonly CancellationToken _lostToken;
    private readonly CancellationTokenRegistration _onLost;
    private LeaseRecord _record;
    private ulong _revision;
    private Task _renewing = Task.CompletedTask;
    private int _released;
    private int _releasedWhileHeld;
    private int _ended;
    private string _lostReason = "not renewed in time";

    public KeyValueLease(KeyValueSingletonLeases owner, INatsKVStore store, string name, string key, long token, LeaseRecord record, long sentAt)
    {
        _owner = owner;
        _store = store;
        _key = key;
        _record = record;
        _revision = (ulong)token;
        Name = name;
        FencingToken = token;
        var schedule = owner.Schedule;
        _lost = new CancellationTokenSource(Remaining(schedule, owner.Time, sentAt), owner.Time);
        _lostToken = _lost.Token;
        _onLost = _lostToken.Register(OnEnded);
    }

    public string Name { get; }

    public long FencingToken { get; }

    public CancellationToken Lost => _lostToken;

    public bool IsHeld => !_lost.IsCancellationRequested;

    /// <summary>The revision of the last renewal written (tests).</summary>
    internal ulong Revision => Volatile.Read(ref _revision);

    /// <summary>Starts the renew loop.</summary>
    public void Start() => _renewing = RenewAsync();

    /// <summary>Releases the lease: stops renewing and deletes the record if it is still this lease's, so another node can take it at once.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _released, 1) == 1)
        {
            return;
        }

        var wasHeld = IsHeld;
        if (wasHeld)
        {
            Volatile.Write(ref _releasedWhileHeld, 1);
        }

        await _lost.CancelAsync().ConfigureAwait(false);
        await _renewing.ConfigureAwait(false);
        if (wasHeld)
        {
            try
            {
                using var timeout = new CancellationTokenSource(_owner.RequestTimeout);
                await _store.TryDeleteExclusiveAsync(_key, Revision, cancellationToken: timeout.Token).ConfigureAwait(false);
                LeasesLog.Released(_owner.Logger, Name);
            }
            catch (Exception ex) when (KeyValueSingletonLeases.IsTransient(ex, CancellationToken.None))
            {
                // Not deleted: the record expires after the lease duration and another node takes it then.
                LeasesLog.RenewFailed(_owner.Logger, Name, 0, ex.Message);
            }
        }

        await _onLost.DisposeAsync().ConfigureAwait(false);

        // The work's loop usually releases the lease from inside the cancellation that lost it (its continuation runs
        // inline): disposing the registration then removes OnEnded before it ran, so end here (at most once).
        OnEnded();
        _lost.Dispose();
    }

    private static TimeSpan Remaining(LeaseSchedule schedule, TimeProvider time, long sentAt)
    {
        var remaining = schedule.GiveUpAfter - time.GetElapsedTime(sentAt);
        return remaining > TimeSpan.Zero ? remaining : TimeSpan.FromTicks(1);
    }

    private async Task RenewAsync()
    {
        var schedule = _owner.Schedule;
        var time = _owner.Time;
        var token = _lostToken;
        var wait = schedule.RenewInterval;
        try
        {
            while (true)
            {
                await Task.Delay(wait, time, token).ConfigureAwait(false);
                var sentAt = time.GetTimestamp();
                var record = _record with { RenewedAt = time.GetUtcNow() };
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
                timeout.CancelAfter(_owner.RequestTimeout);
                NATS.Client.Core.NatsResult<ulong> result;
                try
                {
                    result = await _store.TryUpdateExclusiveAsync(_key, record.ToJson(), _revision, timeout.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (!token.IsCancellationRequested)
                {
                    // Whatever failed (NATS unreachable, a timeout, the connection disposed), the lease is kept only until
                    // the give-up timer fires: this loop must not end before it, nor crash unobserved.
                    RenewFailed(ex.Message);
                    wait = schedule.RetryInterval;
                    continue;
                }

                if (result.Success)
                {
                    Volatile.Write(ref _revision, result.Value);
                    _record = record;
                    _lost.CancelAfter(Remaining(schedule, time, sentAt));
                    wait = schedule.RenewInterval;
                }
                else if (result.Error is NatsKVWrongLastRevisionException)
                {
                    // Another node took it (this node was judged expired) or it was deleted: the work must stop now.
                    Lose("taken by another node");
                    return;
                }
                else
                {
                    RenewFailed(result.Error.Message);
                    wait = schedule.RetryInterval;
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // Released, or given up (the timer fired).
        }
    }

    private void RenewFailed(string reason)
    {
        _owner.Metrics.RenewFailed();
        LeasesLog.RenewFailed(_owner.Logger, Name, (long)_owner.Schedule.GiveUpAfter.TotalMilliseconds, reason);
    }

    private void Lose(string reason)
    {
        _lostReason = reason;
        _lost.Cancel();
    }

    /// <summary>Ends the lease once: forgotten by its owner, counted, and logged when it was lost rather than released.</summary>
    private void OnEnded()
    {
        if (Interlocked.Exchange(ref _ended, 1) == 1)
        {
            return;
        }

        var lost = Volatile.Read(ref _releasedWhileHeld) == 0;
        _owner.Forget(this);
        _owner.Metrics.OnEnded(lost);
        if (lost)
        {
            LeasesLog.Lost(_owner.Logger, Name, _lostReason);
        }
    }
}
