using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Iot.Broker.Mqtt;
using NATS.Client.Core;

namespace Iot.Broker.Cluster.Sessions;

/// <summary>
/// Which sessions this node holds, cluster-wide (docs/adr/0009-cluster-sessions.md). A CONNECT claims the client id
/// with a compare-and-set of its record that bumps the epoch; the node that had it is asked over core NATS
/// (<c>iot.takeover.&lt;node&gt;</c>) to close its connection with 0x8E; every later write of that node fails, since the
/// revision it holds is gone (fencing). Owns the <see cref="OwnedSession"/>s by client id and their readers.
/// </summary>
/// <remarks>No lock of its own beyond the concurrent dictionary; each <see cref="OwnedSession"/> has a leaf lock.</remarks>
internal sealed partial class SessionDirectory(
    ClusterConnection cluster,
    SessionStreams streams,
    PersistentSubscriptions sessions,
    Microsoft.Extensions.Options.IOptions<MqttOptions> mqtt,
    TimeProvider time,
    ILogger<SessionDirectory> logger) : IClusterSessions, IAsyncDisposable
{
    /// <summary>How often a claim is retried when concurrent CONNECTs with the same client id race.</summary>
    private const int ClaimAttempts = 8;

    /// <summary>How long a CONNECT waits for the previous node to close its connection (the issue asks for 0x8E within 1 s).</summary>
    private static readonly TimeSpan TakeoverTimeout = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<string, OwnedSession> _owned = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private int _disposed;
    private Func<string, long, bool, bool>? _takeover;

    public string NodeId => cluster.NodeId;

    public void SetTakeoverHandler(Func<string, long, bool, bool> takenOver) => _takeover = takenOver;

    /// <summary>Starts answering takeover requests addressed to this node.</summary>
    public void Start() => _ = Task.Run(AnswerTakeoversAsync);

    public async Task<ClusterClaim> ClaimAsync(string clientId, string? identity, bool cleanStart, uint sessionExpiry, byte protocolVersion, ClientWill? will)
    {
        var key = SessionKey.Escape(clientId);
        var owner = identity ?? string.Empty;
        try
        {
            if (NearIdentityQuotas(owner, sessionExpiry))
            {
                // The quotas count from the watch: let it catch up with every record written so far, on any node (once,
                // not per claim attempt: a retry only follows a concurrent CONNECT of this client id).
                using var caughtUp = new CancellationTokenSource(cluster.Options.RequestTimeout);
                var last = await streams.LastRevisionAsync(caughtUp.Token).ConfigureAwait(false);
                await sessions.Applied.WhenReachedAsync(last, caughtUp.Token).ConfigureAwait(false);
            }

            for (var attempt = 0; attempt < ClaimAttempts; attempt++)
            {
                var existing = await streams.TryGetAsync(key, CancellationToken.None).ConfigureAwait(false);
                var now = time.GetUtcNow().ToUnixTimeMilliseconds();
                var live = existing is { } e && !e.Record.IsExpired(now);
                if (live && !string.Equals(existing!.Value.Record.Owner, owner, StringComparison.Ordinal))
                {
                    return ClusterClaim.Refused(SessionRefusal.OwnedByAnotherIdentity);
                }

                var resume = live && !cleanStart;
                var previous = existing?.Record;
                if (OverPersistentSessionQuota(owner, sessionExpiry, previous))
                {
                    return ClusterClaim.Refused(SessionRefusal.PersistentSessionQuota);
                }

                if (OverConnectionQuota(owner, previous))
                {
                    return ClusterClaim.Refused(SessionRefusal.ConnectionQuota);
                }

                var record = new SessionRecord(
                    clientId, owner, sessionExpiry, protocolVersion, cluster.NodeId, (previous?.Epoch ?? 0) + 1, Connected: true, 0,
                    resume ? previous!.Subscriptions : [], resume ? previous!.InboundQos2 : [],
                    will is null ? null : Mqtt.Persistence.BrokerMessageSerializer.Serialize(will.Message), will?.DelaySeconds ?? 0,
                    resume ? previous!.OutboundReleased : null);
                var revision = await streams.TryWriteAsync(key, record, existing?.Revision ?? 0, CancellationToken.None).ConfigureAwait(false);
                if (revision is not { } written)
                {
                    continue;
                }

                var owned = new OwnedSession(key, record, written);
                _owned.AddOrUpdate(clientId, owned, (_, old) =>
                {
                    if (old.Epoch > owned.Epoch)
                    {
                        return old;
                    }

                    old.Reader?.Dispose();
                    return owned;
                });
                if (previous?.Node is { } node && !string.Equals(node, cluster.NodeId, StringComparison.Ordinal))
                {
                    await RequestTakeoverAsync(node, clientId, record.Epoch, cleanStart).ConfigureAwait(false);
                }

                if (!resume && (existing is not null || sessionExpiry > 0))
                {
                    // A clean start (or an expired or ended session): the previous session's queue goes with it. Also
                    // when there was no record but the new session will read its queue (persistent): a publisher that
                    // had not yet seen an ended session's record go may have appended after that session's purge. A
                    // session that ends with its connection never reads the queue, and its CONNECT (every clean
                    // publisher's) costs no JetStream request more.
                    await streams.PurgeQueueAsync(key, CancellationToken.None).ConfigureAwait(false);
                }

                LogClaimed(logger, clientId, record.Epoch, previous?.Node ?? "-", resume);
                return new ClusterClaim(SessionRefusal.None, resume, record.Epoch, record.Subscriptions, record.InboundQos2,
                    record.OutboundReleased is { Count: > 0 } released ? released.ToDictionary(r => r.Sequence, r => r.PacketId) : null);
            }

            LogClaimContended(logger, clientId, ClaimAttempts);
        }
        catch (Exception ex) when (ex is NatsException or TimeoutException or OperationCanceledException or InvalidDataException)
        {
            LogClaimFailed(logger, clientId, ex);
        }

        return ClusterClaim.Refused(SessionRefusal.ClusterUnavailable);
    }

    public void Bound(MqttSession session)
    {
        if (!(session.QueueInStream || session.ReadsStreamBacklog) || !TryGetCurrent(session, out var owned))
        {
            return;
        }

        owned.Reader?.Dispose();
        owned.Reader = new SessionQueueReader(cluster, streams, session, owned.Key, logger);
    }

    public void Ended(MqttSession session, bool deleteRecord)
    {
        if (!TryGetCurrent(session, out var owned))
        {
            return;
        }

        owned.Reader?.Dispose();
        owned.Reader = null;
        if (deleteRecord && _owned.TryRemove(new KeyValuePair<string, OwnedSession>(session.ClientId, owned)))
        {
            _ = LogFailureAsync(owned.DeleteAsync(streams), session.ClientId);
        }
    }

    public async Task<bool> TakeWillAsync(string clientId)
    {
        try
        {
            await WriteAsync(clientId, record => record with { Will = null }).ConfigureAwait(false);
            return true;
        }
        catch (SessionFencedException)
        {
            return false;
        }
        catch (Exception ex) when (ex is NatsException or TimeoutException or OperationCanceledException or InvalidDataException)
        {
            // Not removed from the record: publish anyway (a node that claims this one if it dies may publish it again).
            LogClaimFailed(logger, clientId, ex);
            return true;
        }
    }

    /// <summary>Changes the record of a session this node holds; completes once stored. Fails when fenced or not held.</summary>
    public Task WriteAsync(string clientId, Func<SessionRecord, SessionRecord> change) => WriteAsync(clientId, 0, change);

    /// <summary>
    /// As <see cref="WriteAsync(string, Func{SessionRecord, SessionRecord})"/>, for the session object of claim
    /// <paramref name="epoch"/> (0: any): fails when the client id was claimed again since, here or on another node, so
    /// that the end of an old connection never writes over the record of the CONNECT that replaced it.
    /// </summary>
    public Task WriteAsync(string clientId, long epoch, Func<SessionRecord, SessionRecord> change) =>
        _owned.TryGetValue(clientId, out var owned) && (epoch == 0 || owned.Epoch == epoch)
            ? owned.WriteAsync(streams, change)
            : Task.FromException(new SessionFencedException(clientId));

    /// <summary>Deletes the record of a session this node holds (it ended); nothing when it is not held.</summary>
    public Task DeleteAsync(string clientId) =>
        _owned.TryRemove(clientId, out var owned) ? owned.DeleteAsync(streams) : Task.CompletedTask;

    /// <summary>The client acknowledged the queued message <paramref name="sequence"/>: delete it and let the reader go on.</summary>
    public Task AcknowledgedAsync(string clientId, long sequence)
    {
        Task? forget = null;
        if (_owned.TryGetValue(clientId, out var owned))
        {
            owned.Reader?.Signal();

            // A QoS 2 message completed (PUBCOMP): off the record's released list, once (its write is chained after the
            // one that put it there, so it sees it).
            if (owned.MayHaveReleased(sequence))
            {
                forget = LogFailureAsync(owned.WriteAsync(streams, record => record with
                {
                    OutboundReleased = Without(record.OutboundReleased, sequence),
                }), clientId);
            }
        }

        var delete = streams.DeleteMessageAsync((ulong)sequence, CancellationToken.None);
        return forget is null ? delete : Task.WhenAll(delete, forget);
    }

    /// <summary>An outbound QoS 2 message is past PUBREC: recorded, so a node that resumes the session sends PUBREL for it.</summary>
    public Task ReleasedAsync(string clientId, long sequence, ushort packetId)
    {
        if (!_owned.TryGetValue(clientId, out var owned))
        {
            return Task.CompletedTask;
        }

        owned.NoteReleased(sequence);
        return LogFailureAsync(owned.WriteAsync(streams, record => record with
        {
            OutboundReleased = [.. Without(record.OutboundReleased, sequence) ?? [], new ReleasedMessage(sequence, packetId)],
        }), clientId);
    }

    /// <summary>
    /// <c>Iot:Mqtt:MaxPersistentSessionsPerIdentity</c> across the cluster: the identity's persistent sessions as every
    /// record the watch has seen (not only this node's). The record under this client id, if the identity's and
    /// persistent, is counted already: the claim resumes or replaces it. Near the quota the caller first brings the
    /// watch up to the bucket's last revision, so every record written before this CONNECT counts; CONNECTs of one identity on several
    /// nodes at the same moment can still take it over by one each. Anonymous sessions are not counted, as on one node.
    /// </summary>
    private bool OverPersistentSessionQuota(string owner, uint sessionExpiry, SessionRecord? existing)
    {
        if (owner.Length == 0 || sessionExpiry == 0)
        {
            return false;
        }

        var counted = existing is { ExpirySeconds: > 0 } own && string.Equals(own.Owner, owner, StringComparison.Ordinal) ? 1 : 0;
        return sessions.PersistentSessionsOf(owner) - counted >= mqtt.Value.MaxPersistentSessionsPerIdentity;
    }

    /// <summary>
    /// Whether the identity is within two of a quota as the watch sees it now: only then is the watch first brought up
    /// to the bucket's last revision (one JetStream request), so a device far below its limits pays nothing for them.
    /// </summary>
    private bool NearIdentityQuotas(string owner, uint sessionExpiry) =>
        owner.Length > 0
        && (sessions.ConnectedSessionsOf(owner) + 2 >= mqtt.Value.MaxConnectionsPerIdentity
            || (sessionExpiry > 0 && sessions.PersistentSessionsOf(owner) + 2 >= mqtt.Value.MaxPersistentSessionsPerIdentity));

    /// <summary>
    /// <c>Iot:Mqtt:MaxConnectionsPerIdentity</c> across the cluster: the identity's sessions with a connection attached
    /// on any node. The connection under this client id, if the identity's, is counted already: this CONNECT takes it
    /// over. Each node also counts its own connections when it accepts one (<see cref="ConnectionAdmission"/>).
    /// </summary>
    private bool OverConnectionQuota(string owner, SessionRecord? existing)
    {
        if (owner.Length == 0)
        {
            return false;
        }

        var counted = existing is { Connected: true } own && string.Equals(own.Owner, owner, StringComparison.Ordinal) ? 1 : 0;
        return sessions.ConnectedSessionsOf(owner) - counted >= mqtt.Value.MaxConnectionsPerIdentity;
    }

    private static ReleasedMessage[]? Without(IReadOnlyList<ReleasedMessage>? released, long sequence) =>
        released?.Where(r => r.Sequence != sequence).ToArray() is { Length: > 0 } rest ? rest : null;

    public async ValueTask DisposeAsync()
    {
        // Disposed twice when start-up failed (the host, then the container): the second time does nothing.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        foreach (var owned in _owned.Values)
        {
            owned.Reader?.Dispose();
        }

        _stop.Dispose();
    }

    private bool TryGetCurrent(MqttSession session, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out OwnedSession? owned) =>
        _owned.TryGetValue(session.ClientId, out owned) && owned.Epoch == session.ClusterEpoch;

    private async Task RequestTakeoverAsync(string node, string clientId, long epoch, bool cleanStart)
    {
        var payload = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{epoch}\n{(cleanStart ? 1 : 0)}\n{clientId}"));
        try
        {
            await cluster.Nats.RequestAsync<byte[], byte[]>(
                SessionStreams.TakeoverSubjectPrefix + node, payload, replyOpts: new NatsSubOpts { Timeout = TakeoverTimeout }).ConfigureAwait(false);
        }
        catch (NatsNoRespondersException)
        {
            // The node is gone: nobody holds a connection to close; its late writes are fenced by the revision.
        }
        catch (Exception ex) when (ex is NatsNoReplyException or NatsException or TimeoutException or OperationCanceledException)
        {
            LogTakeoverUnanswered(logger, clientId, node, ex);
        }
    }

    private async Task AnswerTakeoversAsync()
    {
        try
        {
            await foreach (var request in cluster.Nats.SubscribeAsync<byte[]>(SessionStreams.TakeoverSubjectPrefix + cluster.NodeId, cancellationToken: _stop.Token).ConfigureAwait(false))
            {
                var parts = Encoding.UTF8.GetString(request.Data ?? []).Split('\n', 3);
                if (parts.Length == 3 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var epoch))
                {
                    var clientId = parts[2];
                    if (_owned.TryGetValue(clientId, out var owned) && owned.Epoch < epoch)
                    {
                        owned.Reader?.Dispose();
                        _owned.TryRemove(new KeyValuePair<string, OwnedSession>(clientId, owned));
                    }

                    var closed = _takeover?.Invoke(clientId, epoch, parts[1] == "1") ?? false;
                    LogTakenOver(logger, clientId, epoch, closed);
                }

                await request.ReplyAsync(Array.Empty<byte>()).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    private async Task LogFailureAsync(Task write, string clientId)
    {
        try
        {
            await write.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NatsException or SessionFencedException or TimeoutException)
        {
            LogWriteFailed(logger, clientId, ex);
        }
    }

    [LoggerMessage(EventId = 1950, Level = LogLevel.Debug, Message = "Cluster: claimed the session of {ClientId} (epoch {Epoch}, previously on {PreviousNode}, resumed {Resumed})")]
    private static partial void LogClaimed(ILogger logger, string clientId, long epoch, string previousNode, bool resumed);

    [LoggerMessage(EventId = 1951, Level = LogLevel.Warning, Message = "Cluster: the session of {ClientId} could not be claimed after {Attempts} attempts (concurrent CONNECTs); refused with 0x88")]
    private static partial void LogClaimContended(ILogger logger, string clientId, int attempts);

    [LoggerMessage(EventId = 1952, Level = LogLevel.Warning, Message = "Cluster: claiming the session of {ClientId} failed (JetStream unavailable?); refused with 0x88")]
    private static partial void LogClaimFailed(ILogger logger, string clientId, Exception exception);

    [LoggerMessage(EventId = 1953, Level = LogLevel.Warning, Message = "Cluster: node {Node} did not confirm the takeover of {ClientId}; its writes are fenced")]
    private static partial void LogTakeoverUnanswered(ILogger logger, string clientId, string node, Exception exception);

    [LoggerMessage(EventId = 1954, Level = LogLevel.Information, Message = "Cluster: the session of {ClientId} was taken by another node (epoch {Epoch}); local connection closed: {Closed}")]
    private static partial void LogTakenOver(ILogger logger, string clientId, long epoch, bool closed);

    [LoggerMessage(EventId = 1957, Level = LogLevel.Warning, Message = "Cluster: a write of the session record of {ClientId} failed")]
    private static partial void LogWriteFailed(ILogger logger, string clientId, Exception exception);
}
