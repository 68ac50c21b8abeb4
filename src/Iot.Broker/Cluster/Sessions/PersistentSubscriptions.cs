using Iot.Broker.Mqtt;
using Iot.Broker.Mqtt.Persistence;
using Iot.Messaging.Topics;
using NATS.Client.KeyValueStore;

namespace Iot.Broker.Cluster.Sessions;

/// <summary>
/// The subscriptions of every persistent session in the cluster, fed by a watch of the <c>iot-sessions</c> bucket (one
/// per node), and the append of a published QoS 1/2 message to the queue of each persistent session it matches
/// (for <see cref="ClusterFanOut"/>), whatever node the session is bound to, or none. Owns the topic tree and the
/// current entries per session; the watch loop is its only writer, publishers read without a lock. The same loop feeds
/// the shared groups' members (<see cref="SharedGroupMembers"/>).
/// </summary>
internal sealed partial class PersistentSubscriptions(
    SessionStreams streams, SharedGroupMembers sharedGroups, BrokerMetrics metrics, ILogger<PersistentSubscriptions> logger) : IAsyncDisposable
{
    [ThreadStatic]
    private static List<Entry>? t_matches;

    private readonly TopicTree<Entry> _tree = new();
    private readonly Dictionary<string, Entry[]> _byKey = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (SessionRecord Record, ulong Revision)> _records = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _perOwner = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _connectedPerOwner = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private int _disposed;
    private readonly TaskCompletionSource _caughtUp = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The bucket revision the tree has applied (every record written up to it is matched by publishes here).</summary>
    public ProgressMark Applied { get; } = new();

    /// <summary>Completes once the watch delivered every record that existed when it started.</summary>
    public Task CaughtUp => _caughtUp.Task;

    /// <summary>Every session record as last seen by the watch, by key, with its revision (a snapshot for sweeps).</summary>
    public IEnumerable<KeyValuePair<string, (SessionRecord Record, ulong Revision)>> Records => _records;

    public void Start() => _ = Task.Run(WatchAsync);

    /// <summary>Appends a QoS 1/2 <paramref name="message"/> to the queue of every persistent session that subscribes to it.</summary>
    public Task AppendAsync(BrokerMessage message, string? publisherClientId)
    {
        var matches = t_matches ??= new List<Entry>(8);
        matches.Clear();
        _tree.Match(message.Topic, matches);
        if (matches.Count == 0)
        {
            return Task.CompletedTask;
        }

        // One copy per session, with the highest granted QoS and every subscription identifier (MQTT 5 §3.3.4).
        var bySession = new Dictionary<string, (Entry First, byte Qos, bool Retain, List<uint>? Ids)>(StringComparer.Ordinal);
        foreach (var entry in matches)
        {
            var s = entry.Subscription;
            if (s.NoLocal && string.Equals(entry.ClientId, publisherClientId, StringComparison.Ordinal))
            {
                continue;
            }

            var qos = Math.Min(message.QualityOfService, s.QualityOfService);
            var retain = s.RetainAsPublished && message.Retain;
            bySession.TryGetValue(entry.Key, out var aggregate);
            aggregate.First ??= entry;
            aggregate.Qos = Math.Max(aggregate.Qos, (byte)qos);
            aggregate.Retain |= retain;
            if (s.SubscriptionIdentifier != 0)
            {
                (aggregate.Ids ??= []).Add(s.SubscriptionIdentifier);
            }

            bySession[entry.Key] = aggregate;
        }

        matches.Clear();
        List<Task>? appends = null;
        foreach (var (key, aggregate) in bySession)
        {
            if (aggregate.Qos == 0)
            {
                // QoS 0 copies go the live way only.
                continue;
            }

            (appends ??= []).Add(AppendCopyAsync(key, message, aggregate.Qos, aggregate.Retain, aggregate.Ids?.ToArray()));
        }

        return appends switch
        {
            null => Task.CompletedTask,
            [var only] => only,
            _ => Task.WhenAll(appends),
        };
    }

    public async ValueTask DisposeAsync()
    {
        // Disposed twice when start-up failed (the host, then the container): the second time does nothing.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    /// <summary>
    /// Appends one session's copy of <paramref name="message"/>, with the delivery's QoS and RETAIN flag, to the queue of
    /// session <paramref name="key"/> (also a shared group's copy for the member <see cref="ClusterFanOut"/> picked).
    /// </summary>
    internal async Task AppendCopyAsync(string key, BrokerMessage message, byte qos, bool retain, uint[]? ids)
    {
        if (await streams.AppendAsync(key, StoredForm(message, qos, retain), ids, CancellationToken.None).ConfigureAwait(false) == 0)
        {
            metrics.MessageDropped(DropReason.QueueFull);
        }
    }

    private async Task WatchAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await foreach (var entry in streams.WatchAsync(_stop.Token).ConfigureAwait(false))
                {
                    Apply(entry);
                    if (entry.Delta == 0)
                    {
                        _caughtUp.TrySetResult();
                    }
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is NATS.Client.Core.NatsException or InvalidDataException or System.Text.Json.JsonException)
            {
                LogWatchFailed(logger, ex);
                await Task.Delay(TimeSpan.FromSeconds(1), _stop.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    private void Apply(NatsKVEntry<byte[]> entry)
    {
        Entry[] next = [];
        if (_records.TryGetValue(entry.Key, out var before))
        {
            CountOwner(before.Record, -1);
        }

        SessionRecord? record = null;
        if (entry.Operation == NatsKVOperation.Put && entry.Value is { Length: > 0 } bytes)
        {
            record = SessionRecord.FromBytes(bytes);
            _records[entry.Key] = (record, entry.Revision);
            CountOwner(record, +1);
            if (record.ExpirySeconds > 0)
            {
                next = [.. record.Subscriptions
                    .Where(static s => !TopicNames.IsSharedSubscription(s.Filter))
                    .Select(s => new Entry(entry.Key, record.ClientId, s))];
            }
        }

        else
        {
            _records.TryRemove(entry.Key, out _);
        }

        sharedGroups.Apply(entry.Key, record);

        // Add before removing, and leave unchanged entries alone: most writes of a record (a claim, a disconnect, inbound
        // QoS 2 ids) keep its subscriptions, and a publish matched in between must still find them, or it would be
        // acknowledged without being queued for the session.
        _byKey.Remove(entry.Key, out var previous);
        previous ??= [];
        for (var i = 0; i < next.Length; i++)
        {
            // The tree compares by reference: an unchanged entry keeps the instance the tree holds, or a later removal
            // would miss it and the session would stay matched after its subscription (or its persistence) ended.
            var kept = Array.IndexOf(previous, next[i]);
            if (kept >= 0)
            {
                next[i] = previous[kept];
            }
            else
            {
                _tree.Add(next[i].Subscription.Filter, next[i]);
            }
        }

        foreach (var old in previous)
        {
            if (!next.Contains(old))
            {
                _tree.Remove(old.Subscription.Filter, old);
            }
        }

        if (next.Length > 0)
        {
            _byKey[entry.Key] = next;
        }

        Applied.Advance(entry.Revision);
    }

    /// <summary>
    /// The persistent sessions (Session Expiry Interval above 0) an identity owns in the whole cluster, as this node's
    /// watch has seen them (milliseconds behind the writes); for <c>Iot:Mqtt:MaxPersistentSessionsPerIdentity</c>.
    /// </summary>
    public int PersistentSessionsOf(string owner) => _perOwner.GetValueOrDefault(owner);

    /// <summary>
    /// The sessions of an identity with a connection attached on some node, as this node's watch has seen them; for
    /// <c>Iot:Mqtt:MaxConnectionsPerIdentity</c> across the cluster. A dead node's connections count until a live node
    /// claims it (<c>Iot:Cluster:NodeTimeout</c>).
    /// </summary>
    public int ConnectedSessionsOf(string owner) => _connectedPerOwner.GetValueOrDefault(owner);

    private void CountOwner(SessionRecord record, int change)
    {
        if (record.Owner.Length == 0)
        {
            return;
        }

        if (record.ExpirySeconds > 0)
        {
            Count(_perOwner, record.Owner, change);
        }

        if (record.Connected)
        {
            Count(_connectedPerOwner, record.Owner, change);
        }
    }

    private static void Count(System.Collections.Concurrent.ConcurrentDictionary<string, int> counts, string owner, int change)
    {
        var count = counts.AddOrUpdate(owner, change, (_, c) => c + change);
        if (count <= 0)
        {
            counts.TryRemove(new KeyValuePair<string, int>(owner, count));
        }
    }

    /// <summary>The copy a session's queue keeps: the delivery's QoS and RETAIN flag, so a reader sends it the same way.</summary>
    private static BrokerMessage StoredForm(BrokerMessage m, byte qos, bool retain) =>
        m.QualityOfService == qos && m.Retain == retain
            ? m
            : new BrokerMessage
            {
                Topic = m.Topic,
                Payload = m.Payload,
                QualityOfService = qos,
                Retain = retain,
                ExpiresAtUnixMs = m.ExpiresAtUnixMs,
                ContentType = m.ContentType,
                ResponseTopic = m.ResponseTopic,
                CorrelationData = m.CorrelationData,
                PayloadFormatIndicator = m.PayloadFormatIndicator,
                UserProperties = m.UserProperties,
                SourceClientId = m.SourceClientId,
                ReceivedAtUnixMs = m.ReceivedAtUnixMs,
            };

    [LoggerMessage(EventId = 1958, Level = LogLevel.Warning, Message = "Cluster: the watch of the session records failed; restarting it")]
    private static partial void LogWatchFailed(ILogger logger, Exception exception);

    /// <summary>One subscription of one persistent session in the cluster-wide tree.</summary>
    private sealed record Entry(string Key, string ClientId, PersistedSubscription Subscription);
}
