namespace Iot.Broker.Cluster.Sessions;

/// <summary>
/// A session record this node holds: the last record it wrote and its revision, and the chain its writes run on, one
/// at a time and in call order, each a compare-and-set on the revision before. A write that finds another revision
/// means another node took the session: the session is fenced and every later write fails.
/// </summary>
internal sealed class OwnedSession(string key, SessionRecord record, ulong revision)
{
    private readonly Lock _gate = new();
    private readonly HashSet<long> _released = record.OutboundReleased is { Count: > 0 } inherited ? [.. inherited.Select(r => r.Sequence)] : [];
    private Task _tail = Task.CompletedTask;

    public string Key { get; } = key;

    public long Epoch { get; } = record.Epoch;

    public SessionRecord Record { get; private set; } = record;

    public ulong Revision { get; private set; } = revision;

    /// <summary>Another node wrote the record: nothing more is written from here.</summary>
    public bool Fenced { get; private set; }

    /// <summary>
    /// Whether the record may list <paramref name="sequence"/> as released (a PUBREC was recorded from here, or the
    /// record held it when it was claimed): only then does its PUBCOMP write the record.
    /// </summary>
    public bool MayHaveReleased(long sequence)
    {
        lock (_gate)
        {
            return _released.Remove(sequence);
        }
    }

    /// <summary>A PUBREC for <paramref name="sequence"/> is being recorded.</summary>
    public void NoteReleased(long sequence)
    {
        lock (_gate)
        {
            _released.Add(sequence);
        }
    }

    /// <summary>Set while the session is bound here and persistent.</summary>
    public SessionQueueReader? Reader { get; set; }

    /// <summary>Queues a change of the record; the task completes once it is stored, or faults (fenced, or JetStream failed).</summary>
    public Task WriteAsync(SessionStreams streams, Func<SessionRecord, SessionRecord> change)
    {
        lock (_gate)
        {
            var write = RunAsync(_tail, streams, change);
            _tail = write;
            return write;
        }
    }

    /// <summary>Queues the deletion of the record and the session's queue.</summary>
    public Task DeleteAsync(SessionStreams streams)
    {
        lock (_gate)
        {
            var write = RunDeleteAsync(_tail, streams);
            _tail = write;
            return write;
        }
    }

    private async Task RunAsync(Task previous, SessionStreams streams, Func<SessionRecord, SessionRecord> change)
    {
        // Never on the caller's thread (it may hold the session's lock), whatever the previous write did.
        await previous.ConfigureAwait(ConfigureAwaitOptions.ForceYielding | ConfigureAwaitOptions.SuppressThrowing);
        if (Fenced)
        {
            throw new SessionFencedException(Record.ClientId);
        }

        var next = change(Record);
        var revision = await streams.TryWriteAsync(Key, next, Revision, CancellationToken.None).ConfigureAwait(false);
        if (revision is not { } written)
        {
            Fenced = true;
            throw new SessionFencedException(Record.ClientId);
        }

        Record = next;
        Revision = written;
    }

    private async Task RunDeleteAsync(Task previous, SessionStreams streams)
    {
        await previous.ConfigureAwait(ConfigureAwaitOptions.ForceYielding | ConfigureAwaitOptions.SuppressThrowing);
        if (Fenced)
        {
            return;
        }

        Fenced = true;
        if (!await streams.TryDeleteAsync(Key, Revision, CancellationToken.None).ConfigureAwait(false))
        {
            throw new SessionFencedException(Record.ClientId);
        }
    }
}

/// <summary>A write of a session record failed because another node took the session since (the write is fenced).</summary>
internal sealed class SessionFencedException(string clientId)
    : InvalidOperationException($"the session of client id '{clientId}' was taken by another node; this node's write is refused");
