using System.Text.Json;
using Iot.Routing.Internal;
using NATS.Client.JetStream;
using Iot.Messaging.JetStream;
using NATS.Client.KeyValueStore;

namespace Iot.Routing.Queues.JetStream;

/// <summary>How this node's picture of the queues follows the buckets: the definitions and each queue's keys.</summary>
internal sealed partial class JetStreamQueueStore
{
    /// <summary>The index of a queue this node now knows (created here or seen in the definitions), its watch started.</summary>
    private QueueIndex Attach(QueueProperties properties, INatsKVStore bucket)
    {
        QueueIndex? started = null;
        QueueIndex index;
        lock (_attachGate)
        {
            if (_queues.TryGetValue(properties.Name, out var existing) && existing.Bucket.Bucket == bucket.Bucket && !existing.Stopping.IsCancellationRequested)
            {
                existing.Properties = properties;
                return existing;
            }

            index = started = new QueueIndex(properties, bucket);
            var name = properties.Name;
            index.SessionArrived = session => SessionMessageArrived?.Invoke(name, session);
            _queues[properties.Name] = index;
        }

        _ = Task.Run(() => FollowQueueAsync(started));
        return index;
    }

    private void Detach(string queue)
    {
        lock (_attachGate)
        {
            if (_queues.TryRemove(queue, out var index))
            {
                index.Stopping.Cancel();
            }
        }
    }

    /// <summary>Follows the definitions: a queue created, reconfigured or deleted on any node is known here.</summary>
    private async Task FollowDefinitionsAsync(TaskCompletionSource ready)
    {
        var token = _stopping.Token;
        var opts = WatchHeartbeat.Options with
        {
            OnNoData = _ =>
            {
                ready.TrySetResult();
                return ValueTask.FromResult(false);
            },
        };
        while (!token.IsCancellationRequested)
        {
            // Until the watch delivered the stored definitions, an attempt that brings nothing within StartWatchTimeout
            // is started again: a watch created while JetStream still elects the bucket's leaders can stay silent.
            using var attempt = StartAttempt(ready.Task, token);
            try
            {
                await foreach (var entry in _definitions!.WatchAsync<byte[]>(opts: opts, cancellationToken: attempt.Token).ConfigureAwait(false))
                {
                    string name;
                    try
                    {
                        name = QueueKeys.DecodeDefinitionKey(entry.Key);
                    }
                    catch (FormatException)
                    {
                        continue;
                    }

                    if (entry.Operation != NatsKVOperation.Put)
                    {
                        Detach(name);
                    }
                    else if (ReadDefinition(entry.Value) is { } properties)
                    {
                        try
                        {
                            var bucket = _queues.TryGetValue(name, out var known) && !known.Stopping.IsCancellationRequested
                                ? known.Bucket
                                : await OpenBucketAsync(QueueKeys.QueueBucket(_prefix, name), "", create: false, token).ConfigureAwait(false);
                            var index = Attach(properties, bucket);
                            if (!ready.Task.IsCompleted)
                            {
                                // Start-up waits until every queue's index is current.
                                await index.Ready.WaitAsync(token).ConfigureAwait(false);
                            }
                        }
                        catch (NatsJSApiException ex) when (ex.Error.Code == 404)
                        {
                            // Deleted meanwhile: its delete marker follows.
                        }
                    }
                    else
                    {
                        JetStreamQueueLog.DefinitionSkipped(_logger, name);
                    }

                    if (entry.Delta == 0)
                    {
                        ready.TrySetResult();
                    }
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                JetStreamQueueLog.WatchFailed(_logger, QueueKeys.DefinitionsBucket(_prefix),
                    ex is OperationCanceledException ? new TimeoutException($"the watch brought nothing within {StartWatchTimeout.TotalSeconds:0} s; starting it again", ex) : ex);
                await Task.Delay(RetryPause, _timeProvider, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Feeds a queue's index from its bucket until the queue is deleted or the store disposed.</summary>
    private async Task FollowQueueAsync(QueueIndex index)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token, index.Stopping.Token);
        var token = linked.Token;
        var opts = WatchHeartbeat.Options with
        {
            OnNoData = _ =>
            {
                index.MarkReady();
                return ValueTask.FromResult(false);
            },
        };
        while (!token.IsCancellationRequested)
        {
            using var attempt = StartAttempt(index.Ready, token);
            try
            {
                await foreach (var entry in index.Bucket.WatchAsync<byte[]>(opts: opts, cancellationToken: attempt.Token).ConfigureAwait(false))
                {
                    index.Apply(entry.Key, entry.Revision, entry.Operation, entry.Value, fromWatch: true);
                    if (entry.Delta == 0)
                    {
                        index.MarkReady();
                    }
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                JetStreamQueueLog.WatchFailed(_logger, index.Bucket.Bucket,
                    ex is OperationCanceledException ? new TimeoutException($"the watch brought nothing within {StartWatchTimeout.TotalSeconds:0} s; starting it again", ex) : ex);
                try
                {
                    await Task.Delay(RetryPause, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>
    /// The token of one watch attempt: until <paramref name="ready"/> completed (the watch delivered what is stored, or
    /// "no data"), an attempt that brings nothing within <see cref="StartWatchTimeout"/> is cancelled and started again:
    /// a watch created while JetStream still elects the bucket's leaders can stay silent (a start-up hung without it).
    /// </summary>
    private static CancellationTokenSource StartAttempt(Task ready, CancellationToken token)
    {
        var attempt = CancellationTokenSource.CreateLinkedTokenSource(token);
        if (!ready.IsCompleted)
        {
            attempt.CancelAfter(StartWatchTimeout);
            _ = ready.ContinueWith(static (_, state) =>
            {
                try
                {
                    ((CancellationTokenSource)state!).CancelAfter(Timeout.InfiniteTimeSpan);
                }
                catch (ObjectDisposedException)
                {
                    // That attempt ended already.
                }
            }, attempt, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        return attempt;
    }
}
