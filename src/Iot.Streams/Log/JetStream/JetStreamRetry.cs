using NATS.Client.Core;
using NATS.Client.JetStream;

namespace Iot.Streams.Log.JetStream;

/// <summary>Retries a JetStream administration call while JetStream does not answer (leaders being elected), as part 1 does.</summary>
internal static class JetStreamRetry
{
    private static readonly TimeSpan Pause = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Whether <paramref name="exception"/> says JetStream is (for now) not answering. A key-value write whose publish
    /// got no answer (<see cref="NatsJSPublishNoResponseException"/>, a bucket leader being elected) is one too: a
    /// consumer-group commit right after a NATS server was killed failed with it instead of being tried again. A write
    /// that was applied although its answer was lost reports a lost race when repeated (KeyValueCompareAndSet).
    /// </summary>
    public static bool IsTransient(Exception exception) =>
        exception is NatsJSApiNoResponseException or NatsJSApiException { Error.Code: 503 } or NatsNoRespondersException or NatsJSTimeoutException
            or NatsJSPublishNoResponseException or TimeoutException or NatsNoReplyException;

    /// <summary>Runs <paramref name="call"/>, again after a short pause while it fails transiently and <paramref name="window"/> has not passed.</summary>
    public static async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> call, TimeSpan timeout, TimeSpan window, TimeProvider time,
        CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        while (true)
        {
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            attempt.CancelAfter(timeout);
            try
            {
                return await call(attempt.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when ((IsTransient(ex) || ex is OperationCanceledException && !cancellationToken.IsCancellationRequested)
                && time.GetElapsedTime(started) < window)
            {
                await Task.Delay(Pause, time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Runs a key-value write again while JetStream does not answer (a bucket leader being elected), until the request
    /// time-out ends; a create that failed for that reason reports "key not found" (the client looks for a deleted key
    /// after the failed write), which is retried too. Any other outcome is returned as it is.
    /// </summary>
    public static async Task<NatsResult<ulong>> WriteAsync(
        Func<CancellationToken, ValueTask<NatsResult<ulong>>> write, CancellationToken cancellationToken)
    {
        while (true)
        {
            NatsResult<ulong> result;
            try
            {
                result = await write(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (JetStreamRetry.IsTransient(ex) && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(RetryPause, cancellationToken).ConfigureAwait(false);
                continue;
            }

            if (result.Success || !(result.Error is NATS.Client.KeyValueStore.NatsKVKeyNotFoundException || JetStreamRetry.IsTransient(result.Error)) || cancellationToken.IsCancellationRequested)
            {
                return result;
            }

            await Task.Delay(RetryPause, cancellationToken).ConfigureAwait(false);
        }
    }

    private static readonly TimeSpan RetryPause = TimeSpan.FromMilliseconds(200);
}
