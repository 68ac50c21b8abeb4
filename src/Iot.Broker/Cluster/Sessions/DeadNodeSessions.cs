using Iot.Broker.Cluster.Nodes;
using Iot.Broker.Mqtt;
using Iot.Broker.Mqtt.Persistence;

namespace Iot.Broker.Cluster.Sessions;

/// <summary>
/// The sessions of a node that died, handled by the one live node that claimed it (<see cref="IClusterMembership.OnNodeDied"/>):
/// each record bound to the dead node is taken by a compare-and-set (disconnected now, bound to this node, will removed),
/// and the node whose write wins publishes the will, after its delay unless the client came back first, so a will is
/// published once. Also ends the disconnected sessions bound to this node whose expiry passed, whether they were
/// disconnected here or taken from a dead node.
/// </summary>
internal sealed partial class DeadNodeSessions(
    IClusterMembership membership,
    SessionStreams streams,
    PersistentSubscriptions records,
    MessageDispatcher dispatcher,
    BrokerMetrics metrics,
    TimeProvider time,
    ILogger<DeadNodeSessions> logger) : IHostedService, IAsyncDisposable
{
    /// <summary>How often expired sessions bound to this node are looked for.</summary>
    private static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(5);

    private readonly CancellationTokenSource _stop = new();
    private IDisposable? _subscription;
    private ITimer? _sweep;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _subscription = membership.OnNodeDied(AdoptAsync);
        _sweep = time.CreateTimer(static s => _ = ((DeadNodeSessions)s!).SweepAsync(), this, SweepInterval, SweepInterval);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _subscription?.Dispose();
        if (_sweep is not null)
        {
            await _sweep.DisposeAsync().ConfigureAwait(false);
        }

        await _stop.CancelAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        _subscription?.Dispose();
        if (_sweep is not null)
        {
            await _sweep.DisposeAsync().ConfigureAwait(false);
        }

        _stop.Dispose();
    }

    /// <summary>Takes every session bound to <paramref name="node"/>; publishes the wills of those it had connected.</summary>
    internal async Task AdoptAsync(ClusterNode node, CancellationToken cancellationToken)
    {
        var adopted = 0;
        foreach (var (key, (record, _)) in records.Records.ToList())
        {
            if (string.Equals(record.Node, node.NodeId, StringComparison.Ordinal) && await AdoptOneAsync(key, node.NodeId, cancellationToken).ConfigureAwait(false))
            {
                adopted++;
            }
        }

        LogAdopted(logger, node.NodeId, adopted);
    }

    private async Task<bool> AdoptOneAsync(string key, string deadNode, CancellationToken cancellationToken)
    {
        // Read again: the watch may lag, and the client may have connected elsewhere already.
        if (await streams.TryGetAsync(key, cancellationToken).ConfigureAwait(false) is not { } current
            || !string.Equals(current.Record.Node, deadNode, StringComparison.Ordinal))
        {
            return false;
        }

        var (record, revision) = current;
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();

        // The will of a client connected there, or one that was waiting for its delay there after the client left.
        var will = record.Will;
        if (record.ExpirySeconds == 0)
        {
            if (!await streams.TryDeleteAsync(key, revision, cancellationToken).ConfigureAwait(false))
            {
                return false;
            }

            PublishWill(record.ClientId, will);
            return true;
        }

        var disconnectedAt = record.Connected ? now : record.DisconnectedAtUnixMs;
        var dueAt = disconnectedAt + (Math.Min(record.WillDelaySeconds, record.ExpirySeconds) * 1000L);
        var waits = will is not null && dueAt > now;

        // A will due now is taken off the record before it is published; one still waiting stays in it, bound to this
        // node, so that if this node dies too, the node that claims it publishes it in time.
        var adopted = record with
        {
            Node = membership.NodeId,
            Epoch = record.Epoch + 1,
            Connected = false,
            DisconnectedAtUnixMs = disconnectedAt,
            Will = waits ? will : null,
            WillDelaySeconds = waits ? record.WillDelaySeconds : 0,
        };
        if (await streams.TryWriteAsync(key, adopted, revision, cancellationToken).ConfigureAwait(false) is not { } written)
        {
            return false;
        }

        if (waits)
        {
            _ = PublishWillLaterAsync(key, record.ClientId, will!, adopted.Epoch, TimeSpan.FromMilliseconds(dueAt - now));
        }
        else
        {
            PublishWill(record.ClientId, will);
        }

        return true;
    }

    /// <summary>
    /// A delayed will: when its delay passed, taken off the record by a compare-and-set and then published, unless the
    /// client connected again (the epoch moved on); published also when the session ended meanwhile (record gone).
    /// </summary>
    private async Task PublishWillLaterAsync(string key, string clientId, byte[] will, long epoch, TimeSpan delay)
    {
        try
        {
            await Task.Delay(delay, time, _stop.Token).ConfigureAwait(false);
            for (var attempt = 0; attempt < 3; attempt++)
            {
                var current = await streams.TryGetAsync(key, _stop.Token).ConfigureAwait(false);
                if (current is not { } found)
                {
                    // The session ended (expired) meanwhile: its end publishes the will.
                    PublishWill(clientId, will);
                    return;
                }

                var (record, revision) = found;
                if (record.Epoch != epoch || record.Will is null)
                {
                    return;
                }

                if (await streams.TryWriteAsync(key, record with { Will = null, WillDelaySeconds = 0 }, revision, _stop.Token).ConfigureAwait(false) is not null)
                {
                    PublishWill(clientId, will);
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex) when (ex is NATS.Client.Core.NatsException or InvalidDataException)
        {
            LogSweepFailed(logger, ex);
        }
    }

    private void PublishWill(string clientId, byte[]? will)
    {
        if (will is null)
        {
            return;
        }

        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var message = PendingWills.Stamp(BrokerMessageSerializer.Deserialize(will), clientId, now);
        metrics.Add(BrokerCounter.WillsPublished);
        LogWillPublished(logger, clientId, message.Topic);
        _ = dispatcher.PublishAsync(message, clientId);
    }

    private async Task SweepAsync()
    {
        try
        {
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            foreach (var (key, (record, revision)) in records.Records.ToList())
            {
                if (string.Equals(record.Node, membership.NodeId, StringComparison.Ordinal) && record.IsExpired(now)
                    && await streams.TryDeleteAsync(key, revision, _stop.Token).ConfigureAwait(false))
                {
                    metrics.Add(BrokerCounter.SessionsExpired);
                    LogExpired(logger, record.ClientId);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex) when (ex is NATS.Client.Core.NatsException or InvalidDataException)
        {
            LogSweepFailed(logger, ex);
        }
    }

    [LoggerMessage(EventId = 1960, Level = LogLevel.Information, Message = "Cluster: took {Count} sessions of the dead node {Node}")]
    private static partial void LogAdopted(ILogger logger, string node, int count);

    [LoggerMessage(EventId = 1961, Level = LogLevel.Information, Message = "Cluster: published the will of {ClientId} (its node died) on {Topic}")]
    private static partial void LogWillPublished(ILogger logger, string clientId, string topic);

    [LoggerMessage(EventId = 1962, Level = LogLevel.Information, Message = "Cluster: the session of {ClientId} expired")]
    private static partial void LogExpired(ILogger logger, string clientId);

    [LoggerMessage(EventId = 1963, Level = LogLevel.Warning, Message = "Cluster: handling the sessions of a dead node or expired sessions failed; the next sweep retries")]
    private static partial void LogSweepFailed(ILogger logger, Exception exception);
}
