using System.Diagnostics;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;

namespace Iot.Routing.Commands;

internal sealed partial class JetStreamCommandStore
{
    /// <summary>Opens (or creates) the bucket; faults when JetStream stays unreachable.</summary>
    public Task StartAsync() => _bucket.Value;

    private Task<INatsKVStore> BucketAsync() => _bucket.Value;

    private async Task<INatsKVStore> OpenAsync()
    {
        var config = new NatsKVConfig(BucketName)
        {
            Description = "Iot device commands: records (c.) and message ids (d.)",
            History = 1,
            NumberOfReplicas = _replicas,
            Storage = NatsKVStorageType.File,
        };
        var started = Stopwatch.GetTimestamp();
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await OpenLeaderReadAsync(config).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsTransient(ex) && Stopwatch.GetElapsedTime(started) < OpenTimeout)
            {
                JetStreamCommandLog.BucketRetry(_logger, BucketName, attempt, ex);
                await Task.Delay(RetryPause).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Creates the bucket when missing (never updates it: that would turn direct gets on again) and turns its direct gets
    /// off, so that every read goes to the stream's leader: a direct get may be answered by a replica that lags behind,
    /// and a record just written through another node would read as missing or pending (a POST's wait on node A saw
    /// the record it had just created as unknown).
    /// </summary>
    private async Task<INatsKVStore> OpenLeaderReadAsync(NatsKVConfig config)
    {
        try
        {
            await _kv.CreateStoreAsync(config).ConfigureAwait(false);
        }
        catch (NatsJSApiException ex) when (ex.Error.ErrCode == 10058)
        {
            // Created by another node (stream name in use): kept as it is.
        }

        var stream = await _kv.JetStreamContext.GetStreamAsync("KV_" + config.Bucket).ConfigureAwait(false);
        if (stream.Info.Config.AllowDirect)
        {
            await _kv.JetStreamContext.UpdateStreamAsync(stream.Info.Config with { AllowDirect = false }).ConfigureAwait(false);
        }

        // The handle reads the stream's configuration now: without direct gets, its reads use the leader's get API.
        return await _kv.GetStoreAsync(config.Bucket).ConfigureAwait(false);
    }

    private static bool IsTransient(Exception ex) =>
        ex is NatsJSApiNoResponseException or NatsJSApiException { Error.Code: 503 } or NatsNoRespondersException or NatsJSException
            or NatsException or TimeoutException;
}
