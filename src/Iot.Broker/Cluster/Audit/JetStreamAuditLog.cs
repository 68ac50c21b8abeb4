using System.Text.Json;
using System.Text.Json.Serialization;
using Iot.Broker.Hosting.Audit;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Iot.Broker.Cluster.Audit;

/// <summary>
/// <see cref="IAuditLog"/> for a cluster: the JetStream stream <see cref="StreamName"/> (file storage, the cluster's
/// replicas), one message per entry on <c>iot.audit.{node}</c>, so every node reads every node's entries. An append
/// completes when JetStream acknowledged the write (stored by a majority of the replicas); the entry's sequence is the
/// stream's.
/// </summary>
/// <remarks>
/// <para>
/// Retention is JetStream's own: the stream's <c>max_age</c> is <see cref="AuditOptions.Retention"/> and its
/// <c>max_msgs</c> <see cref="AuditOptions.MaxEntries"/>, so the server drops the oldest entries whatever the nodes do;
/// <see cref="TrimAsync"/> purges the same way on demand (the contiguous run of entries older than the cut-off, then all
/// but the newest <c>maxEntries</c>).
/// </para>
/// <para>
/// A query reads backwards from the newest entry (or from <see cref="AuditQuery.BeforeSequence"/>) in batches of
/// <see cref="ReadBatch"/>, each through a short-lived ordered consumer, until it has <see cref="AuditQuery.Limit"/>
/// matches. Entries are in append order, which is time order up to the clock skew between nodes, so a query with
/// <see cref="AuditQuery.Since"/> stops at the first entry older than <c>Since</c> minus <see cref="ClockSkew"/>.
/// </para>
/// </remarks>
internal sealed class JetStreamAuditLog : IAuditLog
{
    /// <summary>The stream every node appends to.</summary>
    public const string StreamName = "IOT_AUDIT";

    /// <summary>The subject prefix; a node's entries are on this, a dot and its node id.</summary>
    public const string SubjectPrefix = "iot.audit";

    /// <summary>Entries read per ordered consumer while a query walks backwards.</summary>
    internal const int ReadBatch = 256;

    /// <summary>How far out of time order entries of different nodes may be (their clocks).</summary>
    internal static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(1);

    private readonly INatsJSContext _jetStream;
    private readonly string _stream;
    private readonly string _subjectPrefix;
    private readonly StreamConfig _config;
    private readonly TimeSpan _timeout;
    private Task? _setup;

    /// <param name="jetStream">The cluster's JetStream context.</param>
    /// <param name="options">Retention (the stream's limits).</param>
    /// <param name="replicas">Replicas of the stream (<see cref="ClusterOptions.Replicas"/>).</param>
    /// <param name="timeout">How long one JetStream request may take.</param>
    /// <param name="stream">The stream's name (tests give each log its own).</param>
    public JetStreamAuditLog(INatsJSContext jetStream, AuditOptions options, int replicas, TimeSpan timeout, string stream = StreamName)
    {
        ArgumentNullException.ThrowIfNull(options);
        _jetStream = jetStream;
        _stream = stream;
        _subjectPrefix = stream == StreamName ? SubjectPrefix : $"{SubjectPrefix}-{stream.ToLowerInvariant()}";
        _timeout = timeout;
        _config = new StreamConfig(stream, [_subjectPrefix + ".>"])
        {
            Storage = StreamConfigStorage.File,
            Retention = StreamConfigRetention.Limits,
            Discard = StreamConfigDiscard.Old,
            NumReplicas = replicas,
            MaxAge = options.Retention,
            MaxMsgs = options.MaxEntries,
            Description = "Iot audit log: administrative changes of every node (docs/operations.md)",
        };
    }

    public async Task<AuditEntry> AppendAsync(AuditEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        await EnsureStreamAsync(cancellationToken).ConfigureAwait(false);
        var body = JsonSerializer.SerializeToUtf8Bytes(entry, AuditJson.Default.AuditEntry);
        using var timeout = Deadline(cancellationToken);
        var ack = await _jetStream.PublishAsync(TopicSubjects.ToSubject(_subjectPrefix, entry.Node), body, cancellationToken: timeout.Token)
            .ConfigureAwait(false);
        ack.EnsureSuccess();
        return entry with { Sequence = checked((long)ack.Seq) };
    }

    public async Task<IReadOnlyList<AuditEntry>> QueryAsync(AuditQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var limit = Math.Clamp(query.Limit, 1, 1000);
        var (first, last) = await BoundsAsync(cancellationToken).ConfigureAwait(false);
        var upper = query.BeforeSequence is { } before ? Math.Min(last, (ulong)Math.Max(0, before - 1)) : last;
        var stopBelow = query.Since - ClockSkew;
        var found = new List<AuditEntry>();
        while (upper >= first && upper > 0 && found.Count < limit)
        {
            var lower = upper >= first + ReadBatch - 1 ? upper - ReadBatch + 1 : first;
            var batch = await ReadAsync(lower, upper, cancellationToken).ConfigureAwait(false);
            for (var i = batch.Count - 1; i >= 0 && found.Count < limit; i--)
            {
                var entry = batch[i];
                if (stopBelow is { } stop && entry.Time < stop)
                {
                    return found;
                }

                if (Matches(entry, query))
                {
                    found.Add(entry);
                }
            }

            upper = lower - 1;
        }

        return found;
    }

    public async Task<long> TrimAsync(DateTimeOffset before, long maxEntries, CancellationToken cancellationToken = default)
    {
        var (first, last) = await BoundsAsync(cancellationToken).ConfigureAwait(false);
        long purged = 0;

        // The run of entries older than the cut-off at the start of the stream.
        var keepFrom = first;
        while (keepFrom <= last && keepFrom > 0)
        {
            var batch = await ReadAsync(keepFrom, Math.Min(last, keepFrom + ReadBatch - 1), cancellationToken).ConfigureAwait(false);
            var older = batch.TakeWhile(e => e.Time < before).ToList();
            if (older.Count == 0)
            {
                break;
            }

            keepFrom = (ulong)older[^1].Sequence + 1;
            if (older.Count < batch.Count)
            {
                break;
            }
        }

        if (keepFrom > first)
        {
            purged += await PurgeAsync(new StreamPurgeRequest { Seq = keepFrom }, cancellationToken).ConfigureAwait(false);
        }

        purged += await PurgeAsync(new StreamPurgeRequest { Keep = (ulong)Math.Max(0, maxEntries) }, cancellationToken).ConfigureAwait(false);
        return purged;
    }

    /// <summary>
    /// Creates the stream, or updates its limits, once (the first call; again after a failure). Other nodes may race to
    /// do the same with the same config.
    /// </summary>
    public Task EnsureStreamAsync(CancellationToken cancellationToken)
    {
        var setup = Volatile.Read(ref _setup);
        if (setup is { IsCompletedSuccessfully: true })
        {
            return Task.CompletedTask;
        }

        if (setup is null || setup.IsFaulted || setup.IsCanceled)
        {
            Interlocked.CompareExchange(ref _setup, CreateStreamAsync(), setup);
            setup = Volatile.Read(ref _setup)!;
        }

        return setup.WaitAsync(cancellationToken);
    }

    private async Task CreateStreamAsync()
    {
        using var timeout = new CancellationTokenSource(_timeout);
        await _jetStream.CreateOrUpdateStreamAsync(_config, timeout.Token).ConfigureAwait(false);
    }

    private static bool Matches(AuditEntry entry, AuditQuery query) =>
        (query.Since is not { } since || entry.Time >= since)
        && (query.Until is not { } until || entry.Time < until)
        && (query.Actor is not { } actor || string.Equals(entry.Actor, actor, StringComparison.Ordinal))
        && (query.ActionContains is not { } action || entry.Action.Contains(action, StringComparison.Ordinal));

    private async Task<(ulong First, ulong Last)> BoundsAsync(CancellationToken cancellationToken)
    {
        await EnsureStreamAsync(cancellationToken).ConfigureAwait(false);
        using var timeout = Deadline(cancellationToken);
        var stream = await _jetStream.GetStreamAsync(_stream, cancellationToken: timeout.Token).ConfigureAwait(false);
        var state = stream.Info.State;
        return state.Messages == 0 ? (1, 0) : (state.FirstSeq, state.LastSeq);
    }

    /// <summary>The entries with sequences in [<paramref name="lower"/>, <paramref name="upper"/>], in order.</summary>
    private async Task<List<AuditEntry>> ReadAsync(ulong lower, ulong upper, CancellationToken cancellationToken)
    {
        var entries = new List<AuditEntry>((int)Math.Min(ReadBatch, upper - lower + 1));
        using var timeout = Deadline(cancellationToken);
        var consumer = await _jetStream.CreateOrderedConsumerAsync(
            _stream,
            new NatsJSOrderedConsumerOpts { DeliverPolicy = ConsumerConfigDeliverPolicy.ByStartSequence, OptStartSeq = lower },
            timeout.Token).ConfigureAwait(false);
        var options = new NatsJSConsumeOpts { MaxMsgs = (int)Math.Min(ReadBatch, upper - lower + 1) };
        await foreach (var message in consumer.ConsumeAsync<byte[]>(opts: options, cancellationToken: timeout.Token).ConfigureAwait(false))
        {
            if (message.Metadata is not { } metadata || metadata.Sequence.Stream > upper)
            {
                break;
            }

            if (message.Data is { Length: > 0 } data && JsonSerializer.Deserialize(data, AuditJson.Default.AuditEntry) is { } entry)
            {
                entries.Add(entry with { Sequence = checked((long)metadata.Sequence.Stream) });
            }

            if (metadata.Sequence.Stream == upper || metadata.NumPending == 0)
            {
                break;
            }
        }

        return entries;
    }

    private async Task<long> PurgeAsync(StreamPurgeRequest request, CancellationToken cancellationToken)
    {
        using var timeout = Deadline(cancellationToken);
        var response = await _jetStream.PurgeStreamAsync(_stream, request, timeout.Token).ConfigureAwait(false);
        return (long)response.Purged;
    }

    private CancellationTokenSource Deadline(CancellationToken cancellationToken)
    {
        var source = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        source.CancelAfter(_timeout);
        return source;
    }
}

/// <summary>The stored form of an entry (the sequence is the stream's, not stored).</summary>
[JsonSerializable(typeof(AuditEntry))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
internal sealed partial class AuditJson : JsonSerializerContext;
