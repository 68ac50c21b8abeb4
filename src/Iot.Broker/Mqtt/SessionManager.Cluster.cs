using Iot.Broker.Security;

namespace Iot.Broker.Mqtt;

/// <summary>
/// Cluster mode (docs/adr/0009-cluster-sessions.md): the session record in JetStream decides who has a client id; the
/// sessions held here are a cache of the ones bound to this node, rebuilt from the record at every CONNECT.
/// </summary>
internal sealed partial class SessionManager
{
    // The highest epoch another node announced for a client id whose session it took: a local CONNECT that claimed an
    // older epoch and had not bound yet must not bind after the takeover (it was superseded). Under _gate.
    private readonly Dictionary<string, long> _supersededAt = new(StringComparer.Ordinal);

    private bool _takeoverHandlerSet;

    private async Task<SessionBinding> ConnectClusteredAsync(
        IClusterSessions cluster, MqttConnection connection, string clientId, string? identity, IPrincipalAcl? acl, bool cleanStart, uint sessionExpiry, byte protocolVersion,
        ClientWill? will)
    {
        EnsureTakeoverHandler(cluster);
        var claim = await cluster.ClaimAsync(clientId, identity, cleanStart, sessionExpiry, protocolVersion, will).ConfigureAwait(false);
        if (claim.Refusal != SessionRefusal.None)
        {
            return new SessionBinding(null, false, claim.Refusal);
        }

        MqttSession session;
        MqttConnection? takenOver = null;
        var now = context.NowUnixMs;
        lock (_gate)
        {
            _sessions.TryGetValue(clientId, out var existing);
            if ((existing is not null && existing.ClusterEpoch > claim.Epoch)
                || (_supersededAt.TryGetValue(clientId, out var superseded) && superseded >= claim.Epoch))
            {
                // A newer CONNECT (here or on another node) claimed the client id while this one was claiming.
                return new SessionBinding(null, false, SessionRefusal.ClusterUnavailable);
            }

            _supersededAt.Remove(clientId);
            _wills.Cancel(clientId);
            if (existing is not null)
            {
                if (existing.Owner is { } old && !ReferenceEquals(old, connection))
                {
                    takenOver = old as MqttConnection;
                    takenOver?.MarkTakenOver(cleanStart);
                    existing.Detach(old, now);
                }

                DropLocalLocked(existing);
            }

            session = new MqttSession(context, clientId)
            {
                Ownership = SessionOwner.Of(identity),
                SessionExpiryInterval = sessionExpiry,
                ProtocolVersion = protocolVersion,
                Cluster = new ClusterBinding(claim.Epoch, QueueInStream: sessionExpiry > 0, ReadsStreamBacklog: sessionExpiry == 0 && claim.Resumed),
            };
            foreach (var stored in claim.Subscriptions)
            {
                subscriptions.Subscribe(Subscription.FromStored(session, stored));
            }

            session.RestoreInboundQos2(claim.InboundQos2);
            session.RestoreOutboundReleased(claim.OutboundReleased);
            session.Claim(connection);
            _sessions[clientId] = session;
            if (session.IsPersistent)
            {
                SetStoredLocked(session, true);
            }
        }

        if (takenOver is not null)
        {
            BrokerLog.SessionTakenOver(logger, clientId);
            takenOver.CloseForTakeover();
        }

        if (claim.Resumed && acl is not null)
        {
            DropWhatIsNoLongerAllowed(session, acl);
        }

        cluster.Bound(session);
        return new SessionBinding(session, claim.Resumed, SessionRefusal.None);
    }

    /// <summary>
    /// Another node took the session of <paramref name="clientId"/> with <paramref name="epoch"/>: the local connection
    /// (if any) is closed with 0x8E and the local copy dropped, without touching the record. False when nothing here was
    /// older than <paramref name="epoch"/>.
    /// </summary>
    private bool TakenOverRemotely(string clientId, long epoch, bool cleanStart)
    {
        MqttConnection? takenOver = null;
        lock (_gate)
        {
            if (_supersededAt.GetValueOrDefault(clientId) < epoch)
            {
                _supersededAt[clientId] = epoch;
            }

            if (!_sessions.TryGetValue(clientId, out var session) || session.ClusterEpoch >= epoch)
            {
                return false;
            }

            _wills.Cancel(clientId);
            if (session.Owner is { } old)
            {
                takenOver = old as MqttConnection;
                takenOver?.MarkTakenOver(cleanStart);
                session.Detach(old, context.NowUnixMs);
            }

            _sessions.TryRemove(clientId, out _);
            DropLocalLocked(session);
        }

        if (takenOver is not null)
        {
            BrokerLog.SessionTakenOver(logger, clientId);
            takenOver.CloseForTakeover();
        }

        return true;
    }

    /// <summary>Drops the local copy of a session the cluster record now describes; the record and the queue stay.</summary>
    private void DropLocalLocked(MqttSession session)
    {
        subscriptions.RemoveAll(session);
        session.Clear();
        SetStoredLocked(session, false);
        cluster?.Ended(session, deleteRecord: false);
    }

    private void EnsureTakeoverHandler(IClusterSessions cluster)
    {
        if (Volatile.Read(ref _takeoverHandlerSet))
        {
            return;
        }

        cluster.SetTakeoverHandler(TakenOverRemotely);
        Volatile.Write(ref _takeoverHandlerSet, true);
    }

    /// <summary>A delayed will that came due here: published once the session's record no longer holds it (see <see cref="IClusterSessions.TakeWillAsync"/>).</summary>
    private async Task PublishClusteredWillAsync(IClusterSessions clustered, string clientId, BrokerMessage will)
    {
        if (await clustered.TakeWillAsync(clientId).ConfigureAwait(false))
        {
            PublishWill(clientId, will);
        }
    }
}
