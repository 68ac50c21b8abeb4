using System.Text.Json;
using System.Text.Json.Nodes;
using Iot.Broker.Hosting.Backup;
using NATS.Client.Core;
using NATS.Client.JetStream;

namespace Iot.Broker.Cluster.Backup;

/// <summary>
/// The cluster's durable state as an <see cref="IDurableStore"/>: every JetStream stream of Iot (<see cref="IsIotStream"/>:
/// the <c>IOT_*</c> streams and the <c>KV_iot*</c> key-value buckets) is copied with JetStream's own snapshot API
/// (<c>$JS.API.STREAM.SNAPSHOT</c>, what <c>nats stream backup</c> uses), which the stream's leader answers with a
/// consistent copy of the stream's files (messages, deletes, sequences and consumers) while it serves. A backup holds,
/// under <c>jetstream/</c>, for each stream <c>{name}.json</c> (its config and state when the snapshot was taken) and
/// <c>{name}.snapshot</c> (the server's archive, opaque to us); <see cref="JetStreamRestore"/> gives both back to
/// <c>$JS.API.STREAM.RESTORE</c>.
/// </summary>
/// <remarks>
/// The probe (<see cref="ProbeWriteAsync"/>) publishes to <see cref="HealthStream"/> and waits for JetStream's
/// acknowledgement, which needs a majority of the stream's replicas: what every durable write of the cluster needs.
/// </remarks>
internal sealed class JetStreamSnapshots(ClusterConnection cluster) : IDurableStore
{
    /// <summary>The directory of a backup that holds the snapshots.</summary>
    public const string BackupDirectory = BackupFiles.JetStreamDirectory;

    /// <summary>The stream the readiness probe writes to: one message per node.</summary>
    public const string HealthStream = "IOT_HEALTH";

    /// <summary>The snapshot chunk size asked for (the server's default).</summary>
    internal const int ChunkSize = 128 * 1024;

    private Task? _healthSetup;

    public string Name => "jetstream";

    /// <summary>Whether a JetStream stream is one of Iot's (the backup copies those, and leaves other streams of the account alone).</summary>
    public static bool IsIotStream(string name) =>
        name.StartsWith("IOT_", StringComparison.Ordinal) || name.StartsWith("KV_iot", StringComparison.Ordinal);

    public async Task ProbeWriteAsync(CancellationToken cancellationToken)
    {
        var setup = Volatile.Read(ref _healthSetup);
        if (setup is null || setup.IsFaulted || setup.IsCanceled)
        {
            _ = Interlocked.CompareExchange(ref _healthSetup, CreateHealthStreamAsync(), setup);
            setup = Volatile.Read(ref _healthSetup)!;
        }

        await setup.WaitAsync(cancellationToken).ConfigureAwait(false);
        var ack = await cluster.JetStream.PublishAsync(
            $"iot.health.{cluster.NodeId}", BitConverter.GetBytes(DateTime.UtcNow.Ticks), cancellationToken: cancellationToken).ConfigureAwait(false);
        ack.EnsureSuccess();
    }

    public async Task<IReadOnlyDictionary<string, long>> BackupAsync(string target, CancellationToken cancellationToken)
    {
        var directory = Path.Combine(target, BackupDirectory);
        Directory.CreateDirectory(directory);
        var names = new List<string>();
        await foreach (var name in cluster.JetStream.ListStreamNamesAsync(cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (IsIotStream(name) && name != HealthStream)
            {
                names.Add(name);
            }
        }

        var figures = new SortedDictionary<string, long>(StringComparer.Ordinal);
        long bytes = 0;
        foreach (var name in names.Order(StringComparer.Ordinal))
        {
            var (lastSequence, size) = await SnapshotAsync(name, directory, cancellationToken).ConfigureAwait(false);
            figures[name] = lastSequence;
            bytes += size;
        }

        figures["bytes"] = bytes;
        return figures;
    }

    /// <summary>
    /// Takes one stream's snapshot: asks for it with a fresh inbox as the deliver subject, writes each chunk and
    /// acknowledges it (the server's flow control), until the empty end-of-snapshot message. Returns the stream's last
    /// sequence in the snapshot and the archive's size.
    /// </summary>
    private async Task<(long LastSequence, long Bytes)> SnapshotAsync(string stream, string directory, CancellationToken cancellationToken)
    {
        var nats = cluster.Nats;
        // Not under the connection's inbox prefix: NATS.Net serves those from one wildcard subscription, and the server
        // starts sending only once it sees interest in this literal subject (else after waiting 2 s per stream).
        var inbox = $"_IOT_SNAPSHOT.{Guid.NewGuid():N}";
        await using var chunks = await nats.SubscribeCoreAsync<byte[]>(inbox, cancellationToken: cancellationToken).ConfigureAwait(false);
        await nats.PingAsync(cancellationToken).ConfigureAwait(false);
        var request = JsonSerializer.SerializeToUtf8Bytes(new JsonObject { ["deliver_subject"] = inbox, ["chunk_size"] = ChunkSize, ["jsck"] = true });
        var answer = await JetStreamApi.RequestAsync(nats, $"$JS.API.STREAM.SNAPSHOT.{stream}", request, cluster.Options.RequestTimeout, cancellationToken)
            .ConfigureAwait(false);
        var lastSequence = answer["state"]?["last_seq"]?.GetValue<long>() ?? 0;
        await File.WriteAllBytesAsync(Path.Combine(directory, stream + ".json"), JsonSerializer.SerializeToUtf8Bytes(
            new JsonObject { ["config"] = answer["config"]?.DeepClone(), ["state"] = answer["state"]?.DeepClone() }), cancellationToken).ConfigureAwait(false);

        long size = 0;
        await using (var file = new FileStream(Path.Combine(directory, stream + ".snapshot"), FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, FileOptions.Asynchronous))
        {
            while (true)
            {
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                idle.CancelAfter(cluster.Options.RequestTimeout * 2);
                NatsMsg<byte[]> chunk;
                try
                {
                    chunk = await chunks.Msgs.ReadAsync(idle.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new TimeoutException($"the snapshot of JetStream stream {stream} stopped arriving after {size} bytes");
                }

                if (chunk.Data is not { Length: > 0 } data)
                {
                    // The end: an empty message, with a status header from newer servers (204, or an error).
                    if (chunk.Headers is { Code: > 0 and not 204 } status)
                    {
                        throw new InvalidOperationException($"the snapshot of JetStream stream {stream} failed: {status.Code} {status.MessageText}");
                    }

                    break;
                }

                await file.WriteAsync(data, cancellationToken).ConfigureAwait(false);
                size += data.Length;
                if (chunk.ReplyTo is { Length: > 0 } ack)
                {
                    await nats.PublishAsync(ack, Array.Empty<byte>(), cancellationToken: cancellationToken).ConfigureAwait(false);
                }
            }

            file.Flush(flushToDisk: true);
        }

        return (lastSequence, size);
    }

    private async Task CreateHealthStreamAsync()
    {
        using var timeout = new CancellationTokenSource(cluster.Options.RequestTimeout);
        await cluster.JetStream.CreateOrUpdateStreamAsync(
            new NATS.Client.JetStream.Models.StreamConfig(HealthStream, ["iot.health.>"])
            {
                Storage = NATS.Client.JetStream.Models.StreamConfigStorage.File,
                NumReplicas = cluster.Options.Replicas,
                MaxMsgsPerSubject = 1,
                Description = "Iot readiness probes: one message per node (docs/operations.md)",
            },
            timeout.Token).ConfigureAwait(false);
    }
}

/// <summary>Requests to the JetStream API whose models NATS.Net does not have (snapshots and restores), as JSON.</summary>
internal static class JetStreamApi
{
    /// <summary>Sends <paramref name="body"/> to <paramref name="subject"/> and returns the answer; throws on an API error.</summary>
    public static async Task<JsonNode> RequestAsync(INatsConnection nats, string subject, byte[] body, TimeSpan timeout, CancellationToken cancellationToken)
    {
        NatsMsg<byte[]> reply;
        try
        {
            reply = await nats.RequestAsync<byte[], byte[]>(subject, body, replyOpts: new NatsSubOpts { Timeout = timeout }, cancellationToken: cancellationToken)
                .ConfigureAwait(false);
        }
        catch (NatsNoReplyException ex)
        {
            throw new InvalidOperationException($"JetStream did not answer {subject}: is JetStream enabled, and does the stream exist?", ex);
        }

        var answer = reply.Data is { Length: > 0 } data ? JsonNode.Parse(data) : null;
        if (answer is null)
        {
            throw new InvalidOperationException($"JetStream answered {subject} with nothing");
        }

        if (answer["error"] is { } error)
        {
            throw new JetStreamApiException(subject, error["code"]?.GetValue<int>() ?? 0, error["err_code"]?.GetValue<int>() ?? 0,
                error["description"]?.GetValue<string>() ?? "");
        }

        return answer;
    }
}

/// <summary>JetStream answered a request with an error.</summary>
internal sealed class JetStreamApiException(string subject, int code, int errorCode, string description)
    : InvalidOperationException($"JetStream refused {subject}: {description} (code {code}, err_code {errorCode})")
{
    /// <summary>JetStream's error code for "stream not found".</summary>
    public const int StreamNotFound = 10059;

    /// <summary>The HTTP-like code (404, 500...).</summary>
    public int Code { get; } = code;

    /// <summary>JetStream's own error code.</summary>
    public int ErrorCode { get; } = errorCode;
}
