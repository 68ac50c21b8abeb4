using System.Text.Json;
using System.Text.Json.Nodes;
using NATS.Client.Core;

namespace Iot.Broker.Cluster.Backup;

/// <summary>
/// Gives a cluster backup's streams back to JetStream (<c>$JS.API.STREAM.RESTORE</c>), at a node's start when
/// <c>Iot:Restore:From</c> names a backup taken in cluster mode: every stream of the backup must be absent (a new NATS
/// account or cluster); each is restored with its messages, sequences and consumers, with this cluster's replicas
/// (<see cref="ClusterOptions.Replicas"/>). The stream <see cref="MarkerStream"/> then records which backup it was (in
/// its description), so that the node restarting with the setting in place, or another node started with the same
/// setting after it, starts on the restored streams instead of failing.
/// </summary>
internal static class JetStreamRestore
{
    /// <summary>The stream whose description names the restored backup (it holds no messages).</summary>
    public const string MarkerStream = "IOT_RESTORED";

    /// <summary>
    /// Restores the streams under <paramref name="directory"/> (a backup's <c>jetstream/</c>); returns false when
    /// <paramref name="backupId"/> was restored already.
    /// </summary>
    /// <exception cref="InvalidOperationException">A stream exists already, or JetStream refused a restore.</exception>
    public static async Task<bool> RestoreAsync(INatsConnection nats, string directory, string backupId, int replicas, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (await InfoAsync(nats, MarkerStream, timeout, cancellationToken).ConfigureAwait(false) is { } marker)
        {
            var description = marker["config"]?["description"]?.GetValue<string>() ?? "";
            if (description.Contains(backupId, StringComparison.Ordinal))
            {
                return false;
            }

            throw new InvalidOperationException($"cannot restore backup {backupId}: this NATS account holds a restore already ({description}).");
        }

        var streams = Directory.GetFiles(directory, "*.json").Select(Path.GetFileNameWithoutExtension).OfType<string>().Order(StringComparer.Ordinal).ToList();
        var existing = new List<string>();
        foreach (var stream in streams)
        {
            if (await InfoAsync(nats, stream, timeout, cancellationToken).ConfigureAwait(false) is not null)
            {
                existing.Add(stream);
            }
        }

        if (existing.Count > 0)
        {
            throw new InvalidOperationException(
                $"cannot restore backup {backupId}: JetStream holds Iot's stream(s) {string.Join(", ", existing)} already; restore into a NATS account without them "
                + "(a new cluster, or delete them), with the other broker nodes stopped.");
        }

        var restored = new List<(string Stream, ulong Messages)>();
        foreach (var stream in streams)
        {
            restored.Add((stream, await RestoreStreamAsync(nats, directory, stream, replicas, timeout, cancellationToken).ConfigureAwait(false)));
        }

        // The replicas catch up out of band; a node's watch placed on one still behind would see less than was restored.
        foreach (var (stream, messages) in restored)
        {
            await ReplicaCatchUp.WaitAsync(nats, stream, messages, timeout, timeout * 12, cancellationToken).ConfigureAwait(false);
        }

        var markerConfig = new JsonObject
        {
            ["name"] = MarkerStream,
            ["subjects"] = new JsonArray("iot.restored"),
            ["storage"] = "file",
            ["num_replicas"] = replicas,
            ["description"] = $"Iot restored backup {backupId} at {DateTimeOffset.UtcNow:O}",
        };
        await JetStreamApi.RequestAsync(nats, $"$JS.API.STREAM.CREATE.{MarkerStream}", JsonSerializer.SerializeToUtf8Bytes(markerConfig), timeout, cancellationToken)
            .ConfigureAwait(false);
        return true;
    }

    /// <summary>Restores one stream; returns how many messages it holds.</summary>
    private static async Task<ulong> RestoreStreamAsync(INatsConnection nats, string directory, string stream, int replicas, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var saved = JsonNode.Parse(await File.ReadAllBytesAsync(Path.Combine(directory, stream + ".json"), cancellationToken).ConfigureAwait(false))
            ?? throw new InvalidOperationException($"the backup's {stream}.json is empty");
        var config = saved["config"]?.DeepClone() as JsonObject ?? throw new InvalidOperationException($"the backup's {stream}.json has no config");
        config["num_replicas"] = replicas;
        var request = new JsonObject { ["config"] = config, ["state"] = saved["state"]?.DeepClone() };
        var answer = await JetStreamApi.RequestAsync(nats, $"$JS.API.STREAM.RESTORE.{stream}", JsonSerializer.SerializeToUtf8Bytes(request), timeout, cancellationToken)
            .ConfigureAwait(false);
        var deliver = answer["deliver_subject"]?.GetValue<string>() ?? throw new InvalidOperationException($"JetStream gave no subject for the restore of {stream}");

        // Each chunk is a request: JetStream answers once it has taken it (an empty answer), or with an error.
        await using var file = new FileStream(Path.Combine(directory, stream + ".snapshot"), FileMode.Open, FileAccess.Read, FileShare.Read, 81920, FileOptions.Asynchronous);
        var buffer = new byte[JetStreamSnapshots.ChunkSize];
        int read;
        while ((read = await file.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false)) > 0)
        {
            var reply = await nats.RequestAsync<byte[], byte[]>(deliver, buffer[..read], replyOpts: new NatsSubOpts { Timeout = timeout }, cancellationToken: cancellationToken)
                .ConfigureAwait(false);
            if (reply.Data is { Length: > 0 } data && JsonNode.Parse(data)?["error"] is { } error)
            {
                throw new InvalidOperationException($"JetStream refused the restore of {stream}: {error["description"]?.GetValue<string>()}");
            }
        }

        // The end: an empty chunk, answered with the restored stream (or the error), once the stream is built.
        var built = await JetStreamApi.RequestAsync(nats, deliver, [], timeout * 6, cancellationToken).ConfigureAwait(false);
        return built["state"]?["messages"]?.GetValue<ulong>()
            ?? (await InfoAsync(nats, stream, timeout, cancellationToken).ConfigureAwait(false))?["state"]?["messages"]?.GetValue<ulong>()
            ?? 0;
    }

    /// <summary>The stream's info, or null when there is no such stream.</summary>
    private static async Task<JsonNode?> InfoAsync(INatsConnection nats, string stream, TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            return await JetStreamApi.RequestAsync(nats, $"$JS.API.STREAM.INFO.{stream}", [], timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (JetStreamApiException ex) when (ex.ErrorCode == JetStreamApiException.StreamNotFound)
        {
            return null;
        }
    }
}
