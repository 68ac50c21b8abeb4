using Microsoft.Extensions.Logging;
using NATS.Client.KeyValueStore;
using Iot.Messaging.JetStream;

namespace Iot.Streams.Log.JetStream;

/// <summary>
/// One key-value bucket shared by every node, opened (created or updated idempotently) at start and followed by one
/// watch: the current value of every key, then every change, handed to <c>apply</c> in revision order. The watch
/// starts again after a failure (the current values come again: <c>apply</c> must ignore what it has seen, by revision).
/// </summary>
internal sealed class KeyValueFollower : IAsyncDisposable
{
    private readonly INatsKVContext _kv;
    private readonly NatsKVConfig _config;
    private readonly JetStreamLogOptions _options;
    private readonly Action<NatsKVEntry<byte[]>> _apply;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private int _disposed;
    private readonly TaskCompletionSource _caughtUp = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _watch = Task.CompletedTask;
    private INatsKVStore? _store;

    public KeyValueFollower(INatsKVContext kv, NatsKVConfig config, JetStreamLogOptions options, Action<NatsKVEntry<byte[]>> apply, ILogger logger)
    {
        _kv = kv;
        _config = config;
        _options = options;
        _apply = apply;
        _logger = logger;
    }

    /// <summary>The bucket (after <see cref="StartAsync"/>).</summary>
    public INatsKVStore Store => _store ?? throw new InvalidOperationException($"The bucket {_config.Bucket} is not open.");

    /// <summary>Opens the bucket, starts the watch and waits until the current values are applied.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _store = await JetStreamRetry.RunAsync(ct => _kv.CreateOrUpdateStoreAsync(_config, ct).AsTask(), _options.RequestTimeout,
            _options.SetupWindow, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
        _watch = Task.Run(WatchAsync, CancellationToken.None);
        await _caughtUp.Task.WaitAsync(_options.SetupWindow, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        // The host may dispose twice (a failed start): the second time does nothing.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        await _watch.ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task WatchAsync()
    {
        var token = _stop.Token;
        var opts = WatchHeartbeat.Options with
        {
            OnNoData = _ =>
            {
                _caughtUp.TrySetResult();
                return ValueTask.FromResult(false);
            },
        };
        while (!token.IsCancellationRequested)
        {
            try
            {
                await foreach (var entry in Store.WatchAsync<byte[]>(opts: opts, cancellationToken: token).ConfigureAwait(false))
                {
                    _apply(entry);
                    if (entry.Delta == 0)
                    {
                        _caughtUp.TrySetResult();
                    }
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                JetStreamLogEvents.WatchFailed(_logger, _config.Bucket, ex.Message);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), _options.TimeProvider, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }
}
