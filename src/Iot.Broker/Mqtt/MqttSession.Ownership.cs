using Iot.Broker.Security;

namespace Iot.Broker.Mqtt;

/// <summary>Who owns the session, and how a resumed session is brought back within its owner's current rights.</summary>
internal sealed partial class MqttSession
{
    /// <summary>Who owns the session. Changed only under the session manager's lock.</summary>
    public SessionOwner Ownership { get; set; }

    /// <summary>The identity that owns the session; null for an anonymous session, or while the owner is not known.</summary>
    public string? OwnerIdentity => Ownership.Identity;

    /// <summary>The session was stored before owners were recorded: the first identity that resumes it becomes its owner.</summary>
    public bool OwnerUnknown => Ownership.Unknown;

    /// <summary>The owner as the session store records it: the identity id, empty for anonymous, null when unknown.</summary>
    public string? StoredOwner => Ownership.Stored;

    /// <summary>Whether a client authenticated as <paramref name="identity"/> (null: anonymous) may use this session.</summary>
    public bool MayBeUsedBy(string? identity) => Ownership.MayBeUsedBy(identity);

    /// <summary>
    /// Drops the messages queued or in flight (not yet released) that <paramref name="acl"/> no longer lets the owner
    /// receive, deleting them from the store; returns how many. Commands are kept: the command queue decides about them.
    /// </summary>
    /// <remarks>
    /// Called while no connection is attached (between claim and attach). <paramref name="acl"/> is a pure function of
    /// the topic that calls nothing back, so it is evaluated under the session's lock.
    /// </remarks>
    public int DropMessagesNotAllowed(IPrincipalAcl acl)
    {
        lock (_gate)
        {
            bool Denied(Delivery d) => d.Acknowledged is null && !acl.CanSubscribe(d.Message.Topic);

            var removed = new List<Delivery>();
            _pending.RemoveAll(Denied, removed);
            _inflight.RemoveAll(d => !d.Released && Denied(d), removed);
            foreach (var delivery in removed)
            {
                DeleteStored(delivery);
            }

            return removed.Count;
        }
    }
}
