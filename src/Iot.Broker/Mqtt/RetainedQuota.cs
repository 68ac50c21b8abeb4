using System.Collections.Concurrent;
using Iot.Broker.Security;

namespace Iot.Broker.Mqtt;

/// <summary>
/// An identity that owns retained messages, with what it owns now and its limits. The counts are guarded by the
/// lock of <see cref="RetainedMessages"/>; the limits follow the identity's role at its latest CONNECT.
/// </summary>
internal sealed class RetainedOwner(int id, string name)
{
    /// <summary>Index of this owner in its <see cref="RetainedQuota"/>: what a <see cref="BrokerMessage"/> carries.</summary>
    public int Id { get; } = id;

    /// <summary>The identity id, or <see cref="RetainedQuota.AnonymousOwner"/>; stored with each retained message.</summary>
    public string Name { get; } = name;

    /// <summary>Most messages; 0 = no limit.</summary>
    public int MaxCount { get; set; }

    /// <summary>Most bytes; 0 = no limit.</summary>
    public long MaxBytes { get; set; }

    public int Count { get; set; }

    public long Bytes { get; set; }
}

/// <summary>
/// The owners of retained messages, by name and by a small integer id that messages carry (so that the publish path
/// finds the owner by an array index, not a dictionary lookup by string). An owner is made once per identity that
/// connects or owns a restored message, and kept: their number is bounded by the identities.
/// </summary>
internal sealed class RetainedQuota(MqttOptions options)
{
    /// <summary>The one owner of every anonymous client (no identity id contains <c>$</c>).</summary>
    public const string AnonymousOwner = "$anonymous";

    private readonly ConcurrentDictionary<string, RetainedOwner> _byName = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    // Id 0 is nobody: messages the broker publishes itself are not charged.
    private volatile RetainedOwner?[] _byId = new RetainedOwner?[16];
    private int _next = 1;

    public int MaxTotalCount => options.MaxRetainedMessages;

    public long MaxTotalBytes => options.MaxRetainedBytes;

    /// <summary>The owner id of a client's retained messages, with the limits of its role (once per CONNECT).</summary>
    public int OwnerIdFor(IotPrincipal principal)
    {
        ArgumentNullException.ThrowIfNull(principal);
        var owner = OwnerFor(principal.Username ?? AnonymousOwner);
        (owner.MaxCount, owner.MaxBytes) = principal.Role switch
        {
            null => (0, 0L),
            IdentityRole.Service => (options.MaxRetainedMessagesPerService, options.MaxRetainedBytesPerService),
            _ => (options.MaxRetainedMessagesPerIdentity, options.MaxRetainedBytesPerIdentity),
        };
        return owner.Id;
    }

    /// <summary>The owner named <paramref name="name"/> (a restored message's), made without limits if new; its limits
    /// are set when the identity next connects, and only a publish is ever refused.</summary>
    public RetainedOwner OwnerFor(string name)
    {
        if (_byName.TryGetValue(name, out var owner))
        {
            return owner;
        }

        lock (_gate)
        {
            if (_byName.TryGetValue(name, out owner))
            {
                return owner;
            }

            owner = new RetainedOwner(_next++, name);
            var byId = _byId;
            if (owner.Id >= byId.Length)
            {
                Array.Resize(ref byId, byId.Length * 2);
            }

            byId[owner.Id] = owner;
            _byId = byId;
            _byName[name] = owner;
            return owner;
        }
    }

    /// <summary>The owner of a message's <see cref="BrokerMessage.RetainedOwnerId"/>; null for 0 (the broker's own).</summary>
    public RetainedOwner? Get(int id)
    {
        var byId = _byId;
        return (uint)id < (uint)byId.Length ? byId[id] : null;
    }

    /// <summary>What a retained message counts against the byte quotas: topic, payload and properties.</summary>
    public static long SizeOf(BrokerMessage message)
    {
        long size = message.Topic.Length + message.Payload.Length + (message.ContentType?.Length ?? 0)
            + (message.ResponseTopic?.Length ?? 0) + (message.CorrelationData?.Length ?? 0);
        if (message.UserProperties is { } properties)
        {
            for (var i = 0; i < properties.Count; i++)
            {
                size += properties[i].Name.Length + properties[i].ValueBuffer.Length;
            }
        }

        return size;
    }
}
