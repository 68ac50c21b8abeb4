using System.Buffers.Binary;
using System.Text;
using Iot.Broker.Cluster.Nodes;
using Iot.Broker.Cluster.Sessions;
using Iot.Broker.Mqtt;
using NATS.Client.Core;

namespace Iot.Broker.Cluster.Live;

/// <summary>
/// Makes a SUBACK mean what it means on one node: a message published on any node after it reaches the subscription.
/// Before the SUBACK this node waits until its new NATS subscriptions were sent on the live connection and its own
/// index has applied the session records it wrote, then asks every other live node over core NATS
/// (<c>iot.sync</c>, on the live connection) and waits for each answer. A node answers once its index of persistent
/// subscriptions has applied the records up to the revision asked. The request travels the same server routes as the
/// subscriptions sent before it, and NATS keeps the order on a route, so the answer also proves that the node's server
/// knows this node's interest. See docs/cluster.md, "Live messages".
/// </summary>
/// <remarks>
/// Bounded by <see cref="ClusterOptions.SubscribeSyncTimeout"/>: a node that does not answer in time (dying, or cut off)
/// is counted in <c>iot_cluster_subscribe_sync_timeouts_total</c> and the SUBSCRIBE is acknowledged anyway, as before
/// this barrier existed. No lock is held here; the waits are on <see cref="ProgressMark"/>s.
/// </remarks>
internal sealed partial class SubscriptionBarrier(
    LiveConnection connection,
    LiveInterest interest,
    SessionStreams sessions,
    PersistentSubscriptions persistent,
    IClusterMembership membership,
    ClusterConnection cluster,
    BrokerMetrics metrics,
    ILogger<SubscriptionBarrier> logger) : BackgroundService, ISubscriptionBarrier
{
    /// <summary>The subject of the requests; every node subscribes to it on its live connection.</summary>
    public const string Subject = "iot.sync";

    private readonly TimeSpan _timeout = cluster.Options.SubscribeSyncTimeout;
    private readonly byte[] _origin = connection.Origin.ToArray();

    public async Task WhenVisibleAsync()
    {
        if (_timeout <= TimeSpan.Zero)
        {
            return;
        }

        var generation = interest.Generation;
        var revision = sessions.Written.Value;
        using var timeout = new CancellationTokenSource(_timeout);
        var waiting = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            await interest.Applied.WhenReachedAsync(generation, timeout.Token).ConfigureAwait(false);
            await persistent.Applied.WhenReachedAsync(revision, timeout.Token).ConfigureAwait(false);
            foreach (var node in membership.Nodes)
            {
                if (node.Alive && !node.Self)
                {
                    waiting.Add(node.NodeId);
                }
            }

            if (waiting.Count == 0)
            {
                return;
            }

            var request = new byte[8 + _origin.Length];
            BinaryPrimitives.WriteUInt64LittleEndian(request, revision);
            _origin.CopyTo(request, 8);
            var replies = connection.Nats.RequestManyAsync<byte[], byte[]>(
                Subject, request, replyOpts: new NatsSubOpts { Timeout = _timeout }, cancellationToken: timeout.Token);
            await foreach (var reply in replies.ConfigureAwait(false))
            {
                if (reply.Data is { Length: > 0 } answer && waiting.Remove(Encoding.ASCII.GetString(answer)) && waiting.Count == 0)
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is NatsException or TimeoutException)
        {
            // No responders at all (every other node just went away) or the connection is down: nothing to wait for.
            LogFailed(logger, ex);
        }

        if (waiting.Count > 0 || timeout.IsCancellationRequested)
        {
            metrics.Add(BrokerCounter.ClusterSubscribeSyncTimeouts);
            LogTimedOut(logger, _timeout.TotalMilliseconds, waiting.Count == 0 ? "this node" : string.Join(", ", waiting));
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var request in connection.Nats.SubscribeAsync<byte[]>(Subject, cancellationToken: stoppingToken).ConfigureAwait(false))
            {
                if (request.ReplyTo is not null && request.Data is { Length: >= 8 } data && !data.AsSpan(8).SequenceEqual(_origin))
                {
                    _ = AnswerAsync(request.ReplyTo, BinaryPrimitives.ReadUInt64LittleEndian(data), stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Answers once this node's index has applied the records up to <paramref name="revision"/>; not at all after the timeout.</summary>
    private async Task AnswerAsync(string replyTo, ulong revision, CancellationToken stoppingToken)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            timeout.CancelAfter(_timeout);
            await persistent.Applied.WhenReachedAsync(revision, timeout.Token).ConfigureAwait(false);
            await connection.Nats.PublishAsync(replyTo, _origin, cancellationToken: stoppingToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or NatsException or TimeoutException)
        {
            // The asking node counts the missing answer.
        }
    }

    [LoggerMessage(EventId = 1926, Level = LogLevel.Debug,
        Message = "Cluster: a SUBACK went out after {TimeoutMs} ms (Iot:Cluster:SubscribeSyncTimeout) without confirmation from {Nodes} that the subscription is known there; a message published there meanwhile may miss it")]
    private static partial void LogTimedOut(ILogger logger, double timeoutMs, string nodes);

    [LoggerMessage(EventId = 1927, Level = LogLevel.Debug, Message = "Cluster: asking the other nodes to confirm a subscription failed")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
