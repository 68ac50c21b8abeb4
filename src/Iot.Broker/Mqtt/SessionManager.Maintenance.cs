using Iot.Broker.Mqtt.Persistence;

namespace Iot.Broker.Mqtt;

/// <summary>The end of a connection, the periodic maintenance (expiry, due wills) and the publishing of wills.</summary>
internal sealed partial class SessionManager
{
    /// <summary>A connection ended: detach it, end or keep the session, and publish or schedule its will.</summary>
    public void Disconnected(MqttSession session, MqttConnection connection, BrokerMessage? will, uint willDelay)
    {
        var now = context.NowUnixMs;
        bool detached;
        lock (_gate)
        {
            detached = session.Detach(connection, now);
            if (detached)
            {
                if (!session.IsPersistent)
                {
                    if (_sessions.TryGetValue(session.ClientId, out var current) && ReferenceEquals(current, session))
                    {
                        _sessions.TryRemove(session.ClientId, out _);
                    }

                    Discard(session);
                }
                else
                {
                    var willPending = will is not null && Math.Min(willDelay, session.SessionExpiryInterval) > 0;
                    // Cluster mode: a CONNECT of this client id may have claimed it already (the new record is not this
                    // session's to write): the epoch tells.
                    _ = context.Store.UpsertSessionAsync(new PersistedSession(
                        session.ClientId, session.SessionExpiryInterval, now, session.ProtocolVersion, session.StoredOwner, willPending)
                    {
                        ClusterEpoch = session.ClusterEpoch,
                    });
                    cluster?.Ended(session, deleteRecord: false);
                }
            }

            if (will is not null)
            {
                // The will waits for its delay unless the session ends first (MQTT 5 §3.1.3.2.2).
                var sessionEnds = detached ? !session.IsPersistent : connection.TakeoverCleanStart;
                var delay = sessionEnds ? 0 : Math.Min(willDelay, session.SessionExpiryInterval);
                if (!detached && !connection.TakeoverCleanStart && willDelay > 0)
                {
                    // Taken over by a connection that resumes the session: the will is not sent.
                    will = null;
                }
                else if (delay > 0)
                {
                    _wills.Schedule(session.ClientId, will, now + (delay * 1000L));
                    will = null;
                }
            }
        }

        if (will is not null)
        {
            PublishWill(session.ClientId, will);
        }
    }

    /// <summary>Ends sessions whose expiry passed and publishes wills whose delay passed. Called every second.</summary>
    public void RunMaintenance()
    {
        var now = context.NowUnixMs;
        List<(string ClientId, BrokerMessage Will)>? due = null;
        lock (_gate)
        {
            foreach (var session in _sessions.Values)
            {
                if (session.IsExpired(now))
                {
                    _sessions.TryRemove(session.ClientId, out _);
                    Discard(session);
                    context.Metrics.Add(BrokerCounter.SessionsExpired);
                    BrokerLog.SessionExpired(logger, session.ClientId);
                    if (_wills.TryTake(session.ClientId, out var will))
                    {
                        (due ??= []).Add((session.ClientId, will));
                    }
                }
            }

            var expired = due?.Count ?? 0;
            _wills.TakeDue(now, ref due);
            if (cluster is not null && due is not null)
            {
                // A delayed will in cluster mode is taken off the session's record before it is published.
                foreach (var (clientId, will) in due.Skip(expired))
                {
                    _ = PublishClusteredWillAsync(cluster, clientId, will);
                }

                due.RemoveRange(expired, due.Count - expired);
            }
        }

        if (due is not null)
        {
            foreach (var (clientId, will) in due)
            {
                PublishWill(clientId, will);
            }
        }
    }

    private void PublishWill(string clientId, BrokerMessage will)
    {
        context.Metrics.Add(BrokerCounter.WillsPublished);
        BrokerLog.WillPublished(logger, clientId, will.Topic);
        var stamped = PendingWills.Stamp(will, clientId, context.NowUnixMs);
        _ = dispatcher.PublishAsync(stamped, clientId);
    }
}
