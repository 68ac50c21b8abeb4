using System.Collections.Concurrent;
using Iot.Broker.Mqtt.Persistence;
using Iot.Broker.Security;
using Iot.Messaging.Topics;

namespace Iot.Broker.Mqtt;

/// <summary>
/// Owns the sessions by client id: connect (new, resumed, taken over), disconnect, expiry, pending wills, and the
/// restore of persistent sessions at start-up. Connect and disconnect are serialized; publishing is not.
/// </summary>
internal sealed partial class SessionManager(
    BrokerContext context,
    SubscriptionIndex subscriptions,
    RetainedMessages retained,
    MessageDispatcher dispatcher,
    ILogger<SessionManager> logger,
    IClusterSessions? cluster = null)
{
    private readonly ConcurrentDictionary<string, MqttSession> _sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<MqttConnection, byte> _connections = new();
    private readonly PendingWills _wills = new();
    // Stored sessions per owning identity (MqttOptions.MaxPersistentSessionsPerIdentity); anonymous ones are not counted.
    private readonly Dictionary<string, int> _storedPerIdentity = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public int SessionCount => _sessions.Count;

    public MqttOptions Options => context.Options;

    public IEnumerable<MqttSession> Sessions => _sessions.Values;

    public IEnumerable<MqttConnection> Connections => _connections.Keys;

    public bool TryGetSession(string clientId, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out MqttSession? session) =>
        _sessions.TryGetValue(clientId, out session);

    public void Register(MqttConnection connection) => _connections.TryAdd(connection, 0);

    public void Unregister(MqttConnection connection) => _connections.TryRemove(connection, out _);

    /// <summary>How many stored sessions <paramref name="identity"/> owns.</summary>
    public int StoredSessionsOf(string identity)
    {
        lock (_gate)
        {
            return _storedPerIdentity.GetValueOrDefault(identity);
        }
    }

    /// <summary>Loads persistent sessions and retained messages; sessions that expired while the broker was down end now.</summary>
    public async Task RestoreAsync(CancellationToken cancellationToken)
    {
        if (cluster is not null)
        {
            // Cluster mode loads a session at its CONNECT, from JetStream; only retained messages come from the store.
            EnsureTakeoverHandler(cluster);
        }

        var snapshot = await context.Store.LoadAsync(cancellationToken).ConfigureAwait(false);
        var now = context.NowUnixMs;
        var messages = 0;
        foreach (var state in snapshot.Sessions)
        {
            var stored = state.Session;
            var session = new MqttSession(context, stored.ClientId)
            {
                SessionExpiryInterval = stored.SessionExpiryInterval,
                ProtocolVersion = stored.ProtocolVersion,
                // A session that was connected when the broker stopped is treated as disconnected at restart.
                DisconnectedAtUnixMs = stored.DisconnectedAtUnixMs ?? now,
                Ownership = SessionOwner.FromStored(stored.Owner),
            };
            if (session.IsExpired(now))
            {
                _ = context.Store.DeleteSessionAsync(stored.ClientId);
                continue;
            }

            lock (_gate)
            {
                SetStoredLocked(session, true);
            }

            foreach (var s in state.Subscriptions)
            {
                subscriptions.Subscribe(Subscription.FromStored(session, s));
            }

            foreach (var m in state.Messages)
            {
                session.Restore(m);
                messages++;
            }

            _sessions[session.ClientId] = session;
        }

        foreach (var message in snapshot.Retained)
        {
            retained.Restore(message, snapshot.RetainedOwners?.GetValueOrDefault(message.Topic));
        }

        BrokerLog.Restored(logger, _sessions.Count, messages, snapshot.Retained.Count);
    }

    /// <summary>
    /// Binds a CONNECT by <paramref name="identity"/> (null: anonymous) to a session, unless the session belongs to
    /// another identity or a new persistent session would exceed the identity's quota: then nothing changes (no
    /// takeover, no discard, the pending will stays) and the binding says why. A resumed session is brought within
    /// <paramref name="acl"/>: subscriptions and queued messages its owner may no longer read are dropped. A connection
    /// that is taken over is closed with reason 0x8E. In cluster mode <paramref name="will"/> is stored with the session
    /// record, so that the node that claims this one if it dies publishes it.
    /// </summary>
    public async Task<SessionBinding> ConnectAsync(
        MqttConnection connection, string clientId, string? identity, IPrincipalAcl? acl, bool cleanStart, uint sessionExpiry, byte protocolVersion,
        ClientWill? will = null)
    {
        if (cluster is not null)
        {
            return await ConnectClusteredAsync(cluster, connection, clientId, identity, acl, cleanStart, sessionExpiry, protocolVersion, will).ConfigureAwait(false);
        }

        MqttSession session;
        MqttConnection? takenOver = null;
        bool present;
        var now = context.NowUnixMs;
        lock (_gate)
        {
            _sessions.TryGetValue(clientId, out var existing);
            var live = existing is not null && !existing.IsExpired(now);
            if (live && !existing!.MayBeUsedBy(identity))
            {
                return new SessionBinding(null, false, SessionRefusal.OwnedByAnotherIdentity);
            }

            var replaces = existing is not null && (cleanStart || !live);
            if (identity is not null && sessionExpiry > 0)
            {
                // An own stored session that is resumed is counted already; one that is replaced gives its place back.
                var ownStored = existing is { Stored: true } && string.Equals(existing.OwnerIdentity, identity, StringComparison.Ordinal);
                if ((!ownStored || replaces)
                    && _storedPerIdentity.GetValueOrDefault(identity) - (ownStored ? 1 : 0) >= context.Options.MaxPersistentSessionsPerIdentity)
                {
                    return new SessionBinding(null, false, SessionRefusal.PersistentSessionQuota);
                }
            }

            _wills.Cancel(clientId);
            if (existing?.Owner is { } old && !ReferenceEquals(old, connection))
            {
                takenOver = old as MqttConnection;
                takenOver?.MarkTakenOver(cleanStart);
                existing.Detach(old, now);
            }

            if (existing is null || replaces)
            {
                if (existing is not null)
                {
                    Discard(existing);
                }

                session = new MqttSession(context, clientId) { Ownership = SessionOwner.Of(identity) };
                _sessions[clientId] = session;
                present = false;
            }
            else
            {
                session = existing;
                present = true;
                if (session.OwnerUnknown)
                {
                    // Stored before owners were recorded: the first identity that resumes it owns it from now on.
                    var wasStored = session.Stored;
                    SetStoredLocked(session, false);
                    session.Ownership = SessionOwner.Of(identity);
                    SetStoredLocked(session, wasStored);
                }
            }

            session.Claim(connection);
            session.SessionExpiryInterval = sessionExpiry;
            session.ProtocolVersion = protocolVersion;
            if (session.Stored && !session.IsPersistent)
            {
                // The resumed session no longer outlives its connection: it is not stored any more.
                SetStoredLocked(session, false);
                _ = context.Store.DeleteSessionAsync(clientId);
            }
            else if (session.IsPersistent)
            {
                SetStoredLocked(session, true);
            }
        }

        if (takenOver is not null)
        {
            BrokerLog.SessionTakenOver(logger, clientId);
            takenOver.CloseForTakeover();
        }

        if (present && acl is not null)
        {
            DropWhatIsNoLongerAllowed(session, acl);
        }

        if (session.IsPersistent)
        {
            await context.Store.UpsertSessionAsync(new PersistedSession(clientId, sessionExpiry, null, protocolVersion, session.StoredOwner)).ConfigureAwait(false);
        }

        return new SessionBinding(session, present, SessionRefusal.None);
    }

    /// <summary>Ends every session <paramref name="identity"/> owns (the identity was deleted); returns how many.</summary>
    public int EndSessionsOf(string identity)
    {
        List<MqttConnection>? connections = null;
        var ended = 0;
        lock (_gate)
        {
            foreach (var session in _sessions.Values)
            {
                if (session.OwnerUnknown || !string.Equals(session.OwnerIdentity, identity, StringComparison.Ordinal))
                {
                    continue;
                }

                if (session.Owner is MqttConnection owner)
                {
                    (connections ??= []).Add(owner);
                }

                _sessions.TryRemove(session.ClientId, out _);
                _wills.Cancel(session.ClientId);
                Discard(session);
                ended++;
            }
        }

        if (connections is not null)
        {
            foreach (var connection in connections)
            {
                connection.Close(MQTTnet.Protocol.MqttDisconnectReasonCode.NotAuthorized);
            }
        }

        return ended;
    }

    private void Discard(MqttSession session)
    {
        subscriptions.RemoveAll(session);
        session.Clear();
        cluster?.Ended(session, deleteRecord: true);
        if (session.Stored)
        {
            SetStoredLocked(session, false);
            _ = context.Store.DeleteSessionAsync(session.ClientId);
        }
    }

    /// <summary>Sets <see cref="MqttSession.Stored"/> and keeps the count of stored sessions per owner. Under <see cref="_gate"/>.</summary>
    private void SetStoredLocked(MqttSession session, bool stored)
    {
        if (session.Stored == stored)
        {
            return;
        }

        session.Stored = stored;
        if (session.OwnerUnknown || session.OwnerIdentity is not { } identity)
        {
            return;
        }

        var count = _storedPerIdentity.GetValueOrDefault(identity) + (stored ? 1 : -1);
        if (count > 0)
        {
            _storedPerIdentity[identity] = count;
        }
        else
        {
            _storedPerIdentity.Remove(identity);
        }
    }

    /// <summary>
    /// A resumed session keeps only what its owner may read now (its rights may have changed while it was offline):
    /// subscriptions the rules no longer allow are removed (and deleted from the store), and so are queued messages.
    /// </summary>
    private void DropWhatIsNoLongerAllowed(MqttSession session, IPrincipalAcl acl)
    {
        var removed = 0;
        foreach (var subscription in session.SnapshotSubscriptions())
        {
            if (subscription.Reauthorize(acl) || !subscriptions.Unsubscribe(session, subscription.Filter))
            {
                continue;
            }

            removed++;
            if (session.Stored)
            {
                _ = context.Store.DeleteSubscriptionAsync(session.ClientId, subscription.Filter);
            }
        }

        var dropped = session.DropMessagesNotAllowed(acl);
        if (removed > 0 || dropped > 0)
        {
            BrokerLog.SessionNarrowedToRights(logger, session.ClientId, removed, dropped);
        }
    }
}
