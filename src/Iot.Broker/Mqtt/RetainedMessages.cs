using System.Diagnostics.CodeAnalysis;
using Iot.Routing.Topics;

namespace Iot.Broker.Mqtt;

/// <summary>The retained message of each topic, durable, found by wildcard filters through a topic index.</summary>
internal sealed class RetainedMessages(SessionContext context)
{
    private readonly TopicIndex<BrokerMessage> _index = new();

    public int Count => _index.Count;

    /// <summary>Sets, replaces or (empty payload) clears the retained message of the message's topic.</summary>
    public void Apply(BrokerMessage message, ref DurableWrites durable)
    {
        if (message.Payload.IsEmpty)
        {
            if (_index.Remove(message.Topic))
            {
                durable.Add(context.Store.DeleteRetainedAsync(message.Topic));
            }

            return;
        }

        _index.Set(message.Topic, message);
        durable.Add(context.Store.SetRetainedAsync(message));
    }

    /// <summary>Restores a stored retained message at start-up.</summary>
    public void Restore(BrokerMessage message) => _index.Set(message.Topic, message);

    /// <summary>The retained message of <paramref name="topic"/> now; false when there is none or it expired.</summary>
    public bool TryGetCurrent(string topic, long nowUnixMs, [NotNullWhen(true)] out BrokerMessage? message)
    {
        if (_index.TryGet(topic, out message) && !message.IsExpired(nowUnixMs))
        {
            return true;
        }

        message = null;
        return false;
    }

    /// <summary>
    /// The retained messages a new subscription is owed, as a cursor for its session to send from as it has room;
    /// null when none match. At most <see cref="MqttOptions.MaxRetainedPerSubscribe"/> (when set) are kept.
    /// </summary>
    public RetainedCursor? OpenCursor(Subscription subscription, MqttConnection connection)
    {
        var matches = new List<BrokerMessage>();
        Match(subscription.TopicFilter, matches);
        if (matches.Count == 0)
        {
            return null;
        }

        var limit = context.Options.MaxRetainedPerSubscribe;
        if (limit > 0 && matches.Count > limit)
        {
            context.Metrics.LimitHit(LimitKind.MaxRetainedPerSubscribe);
            matches.RemoveRange(limit, matches.Count - limit);
        }

        return new RetainedCursor(subscription, connection, matches, this, context.Metrics);
    }

    /// <summary>Appends the live retained messages matching <paramref name="filter"/>; expired ones are removed on the way.</summary>
    public void Match(string filter, List<BrokerMessage> results)
    {
        var start = results.Count;
        _index.Match(filter, results);
        var now = context.NowUnixMs;
        for (var i = results.Count - 1; i >= start; i--)
        {
            var message = results[i];
            if (message.IsExpired(now))
            {
                results.RemoveAt(i);
                if (_index.TryGet(message.Topic, out var current) && ReferenceEquals(current, message))
                {
                    _index.Remove(message.Topic);
                    _ = context.Store.DeleteRetainedAsync(message.Topic);
                }
            }
        }
    }
}
