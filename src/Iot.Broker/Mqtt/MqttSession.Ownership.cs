using Iot.Broker.Security;

namespace Iot.Broker.Mqtt;

/// <summary>Who owns the session, and how a resumed session is brought back within its owner's current rights.</summary>
internal sealed partial class MqttSession
{
    /// <summary>
    /// The identity that owns the session (docs/security.md, "Client ids and sessions"); null for an anonymous
    /// session, or while <see cref="OwnerUnknown"/>. Changed only under the session manager's lock.
    /// </summary>
    public string? OwnerIdentity { get; set; }

    /// <summary>
    /// The session was stored before owners were recorded (session store schema 1): the first identity that resumes it
    /// becomes its owner. Changed only under the session manager's lock.
    /// </summary>
    public bool OwnerUnknown { get; set; }

    /// <summary>The owner as the session store records it: the identity id, empty for anonymous, null when unknown.</summary>
    public string? StoredOwner => OwnerUnknown ? null : OwnerIdentity ?? string.Empty;

    /// <summary>Whether a client authenticated as <paramref name="identity"/> (null: anonymous) may use this session.</summary>
    public bool MayBeUsedBy(string? identity) => OwnerUnknown || string.Equals(OwnerIdentity, identity, StringComparison.Ordinal);

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
            var dropped = 0;
            if (_pending.Count > 0)
            {
                var count = _pending.Count;
                for (var i = 0; i < count; i++)
                {
                    var d = _pending.Dequeue();
                    if (d.Acknowledged is not null || acl.CanSubscribe(d.Message.Topic))
                    {
                        _pending.Enqueue(d);
                        continue;
                    }

                    DeleteStored(d);
                    dropped++;
                }
            }

            if (_inflight is { Count: > 0 } inflight)
            {
                List<ushort>? denied = null;
                foreach (var (packetId, d) in inflight)
                {
                    if (!d.Released && d.Acknowledged is null && !acl.CanSubscribe(d.Message.Topic))
                    {
                        (denied ??= []).Add(packetId);
                    }
                }

                if (denied is not null)
                {
                    foreach (var packetId in denied)
                    {
                        inflight.Remove(packetId, out var d);
                        DeleteStored(d!);
                        dropped++;
                    }
                }
            }

            return dropped;
        }
    }

    private void DeleteStored(Delivery d)
    {
        if (d.Sequence != 0)
        {
            _ = _context.Store.DeleteMessageAsync(ClientId, d.Sequence);
        }
    }
}
