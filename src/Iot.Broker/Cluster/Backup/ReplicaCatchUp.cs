using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using NATS.Client.Core;

namespace Iot.Broker.Cluster.Backup;

/// <summary>
/// Waits until every replica of a restored stream holds what was restored. JetStream restores a stream on one server
/// and lets the other replicas catch up out of band (nats-server's <c>monitorStream</c>: "the replicas will need to catch
/// up out of band"), and it places an ephemeral consumer, such as a node's key-value watch, on a random replica. A watch
/// placed on a replica still catching up sees an empty bucket and reports "no data", so a node started right after a
/// restore could take a queue of 10 messages for an empty one (CI saw it once under load).
/// </summary>
/// <remarks>
/// JetStream's API tells a replica's progress only in raft terms, which a catch-up out of band does not move, so each
/// replica is asked directly: an ephemeral pull consumer is created (JetStream places it on one replica) and its
/// <c>num_pending</c>, counted from that replica's own store, is compared with the restored count; the consumer is
/// deleted at once. This repeats until every replica answered with the full count.
/// </remarks>
internal static class ReplicaCatchUp
{
    private static readonly TimeSpan Pause = TimeSpan.FromMilliseconds(100);

    /// <summary>Returns once every replica of <paramref name="stream"/> holds at least <paramref name="messages"/> messages.</summary>
    /// <exception cref="TimeoutException">A replica did not catch up within <paramref name="deadline"/>.</exception>
    public static async Task WaitAsync(INatsConnection nats, string stream, ulong messages, TimeSpan timeout, TimeSpan deadline, CancellationToken cancellationToken)
    {
        var info = await JetStreamApi.RequestAsync(nats, $"$JS.API.STREAM.INFO.{stream}", [], timeout, cancellationToken).ConfigureAwait(false);
        var replicas = Replicas(info);
        if (replicas.Count <= 1 || messages == 0)
        {
            return;
        }

        var current = new HashSet<string>(StringComparer.Ordinal);
        var started = TimeProvider.System.GetTimestamp();
        var request = JsonSerializer.SerializeToUtf8Bytes(new JsonObject
        {
            ["stream_name"] = stream,
            ["config"] = new JsonObject
            {
                ["deliver_policy"] = "all",
                ["ack_policy"] = "none",
                ["mem_storage"] = true,
                ["inactive_threshold"] = (long)TimeSpan.FromSeconds(30).TotalNanoseconds,
            },
        });
        while (!replicas.IsSubsetOf(current))
        {
            var created = await JetStreamApi.RequestAsync(nats, $"$JS.API.CONSUMER.CREATE.{stream}", request, timeout, cancellationToken).ConfigureAwait(false);
            var name = created["name"]?.GetValue<string>();
            var server = created["cluster"]?["leader"]?.GetValue<string>();
            var pending = created["num_pending"]?.GetValue<ulong>() ?? 0;
            if (name is not null)
            {
                await DeleteAsync(nats, stream, name, timeout, cancellationToken).ConfigureAwait(false);
            }

            if (server is not null && pending >= messages)
            {
                current.Add(server);
                continue;
            }

            if (TimeProvider.System.GetElapsedTime(started) > deadline)
            {
                var behind = string.Join(", ", replicas.Except(current).Order(StringComparer.Ordinal));
                throw new TimeoutException(string.Create(CultureInfo.InvariantCulture,
                    $"the replica(s) {behind} of the restored stream {stream} did not catch up with its {messages} message(s) within {deadline.TotalSeconds:0} s"));
            }

            await Task.Delay(Pause, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The servers holding the stream: its leader and the other replicas.</summary>
    private static HashSet<string> Replicas(JsonNode info)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        if (info["cluster"] is not { } cluster)
        {
            return names;
        }

        if (cluster["leader"]?.GetValue<string>() is { Length: > 0 } leader)
        {
            names.Add(leader);
        }

        foreach (var replica in cluster["replicas"]?.AsArray() ?? [])
        {
            if (replica?["name"]?.GetValue<string>() is { Length: > 0 } name)
            {
                names.Add(name);
            }
        }

        return names;
    }

    private static async Task DeleteAsync(INatsConnection nats, string stream, string consumer, TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await JetStreamApi.RequestAsync(nats, $"$JS.API.CONSUMER.DELETE.{stream}.{consumer}", [], timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            // Its inactivity threshold removes it.
        }
    }
}
