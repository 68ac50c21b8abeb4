using NATS.Client.Core;
using NATS.Client.JetStream;

namespace Iot.Streams.Log.JetStream;

/// <summary>Retries a JetStream administration call while JetStream does not answer (leaders being elected), as part 1 does.</summary>
internal static class JetStreamRetry
{
    private static readonly TimeSpan Pause = TimeSpan.FromMilliseconds(250);

    /// <summary>Whether <paramref name="exception"/> says JetStream is (for now) not answering.</summary>
    public static bool IsTransient(Exception exception) =>
        exception is NatsJSApiNoResponseException or NatsJSApiException { Error.Code: 503 } or NatsNoRespondersException or NatsJSTimeoutException
            or TimeoutException or NatsNoReplyException;

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
}
