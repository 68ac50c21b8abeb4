using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text.Json;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Iot.Streams.Log.JetStream;

/// <summary>
/// Pipelined JetStream publishes: each append is written to its partition's subject with a reply subject of its own
/// under one inbox, and completes when the stream's PubAck arrives there (with the sequence), when JetStream answers an
/// error or no responder (a leader being elected), or with a <see cref="TimeoutException"/> after the request timeout.
/// Unlike one request per publish, the caller's order of <see cref="SendAsync"/> calls is the order on the wire, so
/// one partition's appends keep their order while many are in flight. Owns its inbox subscription and the pending map.
/// </summary>
internal sealed class JetStreamPublisher : IAsyncDisposable
{
    private readonly INatsConnection _nats;
    private readonly TimeSpan _timeout;
    private readonly TimeProvider _time;
    private readonly Histogram<double>? _ackDuration;
    private readonly string _inbox;
    private readonly ConcurrentDictionary<long, Pending> _pending = new();
    private readonly CancellationTokenSource _stop = new();
    private int _disposed;
    private INatsSub<byte[]>? _subscription;
    private Task _reader = Task.CompletedTask;
    private ITimer? _sweeper;
    private long _nextId;

    /// <param name="nats">The connection.</param>
    /// <param name="timeout">How long a publish waits for its acknowledgement.</param>
    /// <param name="time">The clock of the time-outs and <paramref name="ackDuration"/>.</param>
    /// <param name="ackDuration">Records each acknowledged publish's round trip, tagged <c>stream</c>, if set.</param>
    public JetStreamPublisher(INatsConnection nats, TimeSpan timeout, TimeProvider time, Histogram<double>? ackDuration = null)
    {
        _nats = nats;
        _timeout = timeout;
        _time = time;
        _ackDuration = ackDuration;
        // Not under NewInbox(): the client's own request muxer takes every reply below its prefix.
        _inbox = "_INBOX.iot-" + Guid.NewGuid().ToString("N");
    }

    /// <summary>Publishes not yet answered (for tests and metrics).</summary>
    public int InFlight => _pending.Count;

    /// <summary>Subscribes to the inbox and starts the time-out sweep.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _subscription = await _nats.SubscribeCoreAsync<byte[]>(_inbox + ".*", cancellationToken: cancellationToken).ConfigureAwait(false);
        _reader = Task.Run(ReadAcksAsync, CancellationToken.None);
        var period = _timeout / 4;
        _sweeper = _time.CreateTimer(static state => ((JetStreamPublisher)state!).Sweep(), this, period, period);
    }

    /// <summary>
    /// Writes <paramref name="body"/> to <paramref name="subject"/>; <paramref name="completion"/> gets the stream
    /// sequence the PubAck names, or the failure. Completes once the message is handed to the connection.
    /// <paramref name="stream"/> tags the acknowledgement's time.
    /// </summary>
    public async ValueTask SendAsync(string subject, byte[] body, TaskCompletionSource<ulong> completion, string stream = "")
    {
        var id = Interlocked.Increment(ref _nextId);
        _pending[id] = new Pending(completion, _time.GetTimestamp(), stream);
        try
        {
            await _nats.PublishAsync(subject, body, replyTo: _inbox + "." + id.ToString(CultureInfo.InvariantCulture),
                cancellationToken: _stop.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            if (_pending.TryRemove(id, out _))
            {
                completion.TrySetException(ex);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        // The host may dispose twice (a failed start): the second time does nothing.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        if (_sweeper is not null)
        {
            await _sweeper.DisposeAsync().ConfigureAwait(false);
        }

        if (_subscription is not null)
        {
            await _subscription.DisposeAsync().ConfigureAwait(false);
        }

        await _reader.ConfigureAwait(false);
        foreach (var id in _pending.Keys)
        {
            if (_pending.TryRemove(id, out var pending))
            {
                pending.Completion.TrySetException(new ObjectDisposedException(nameof(JetStreamPublisher)));
            }
        }

        _stop.Dispose();
    }

    private async Task ReadAcksAsync()
    {
        try
        {
            await foreach (var msg in _subscription!.Msgs.ReadAllAsync(_stop.Token).ConfigureAwait(false))
            {
                var dot = msg.Subject.LastIndexOf('.');
                if (!long.TryParse(msg.Subject.AsSpan(dot + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var id)
                    || !_pending.TryRemove(id, out var pending))
                {
                    continue;
                }

                if (msg.Headers is { Code: 503 })
                {
                    pending.Completion.TrySetException(new NatsJSApiException(new ApiError { Code = 503, Description = "no JetStream responders (a stream leader is being elected)" }));
                }
                else
                {
                    var ack = Parse(msg.Data);
                    if (ack.Error is { } error)
                    {
                        pending.Completion.TrySetException(new NatsJSApiException(error));
                    }
                    else
                    {
                        _ackDuration?.Record(_time.GetElapsedTime(pending.Sent).TotalSeconds, new KeyValuePair<string, object?>("stream", pending.Stream));
                        pending.Completion.TrySetResult(ack.Sequence);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Disposed.
        }
    }

    /// <summary>The PubAck's sequence, or its error (a body that is neither counts as an error).</summary>
    private static AckResult Parse(byte[]? data)
    {
        if (data is null or { Length: 0 })
        {
            return new AckResult(0, new ApiError { Code = 500, Description = "empty answer to a JetStream publish" });
        }

        try
        {
            var reader = new Utf8JsonReader(data);
            ulong sequence = 0;
            ApiError? error = null;
            var depth = 0;
            string? inError = null;
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject:
                        depth++;
                        break;
                    case JsonTokenType.EndObject:
                        depth--;
                        inError = null;
                        break;
                    case JsonTokenType.PropertyName:
                        var name = reader.GetString();
                        reader.Read();
                        if (depth == 1 && name == "seq" && reader.TokenType == JsonTokenType.Number)
                        {
                            sequence = reader.GetUInt64();
                        }
                        else if (depth == 1 && name == "error" && reader.TokenType == JsonTokenType.StartObject)
                        {
                            depth++;
                            error = new ApiError();
                            inError = name;
                        }
                        else if (inError is not null && error is not null)
                        {
                            if (name == "code" && reader.TokenType == JsonTokenType.Number)
                            {
                                error.Code = reader.GetInt32();
                            }
                            else if (name == "err_code" && reader.TokenType == JsonTokenType.Number)
                            {
                                error.ErrCode = reader.GetInt32();
                            }
                            else if (name == "description" && reader.TokenType == JsonTokenType.String)
                            {
                                error.Description = reader.GetString();
                            }
                        }
                        else if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                        {
                            reader.Skip();
                        }

                        break;
                }
            }

            return new AckResult(sequence, error ?? (sequence == 0 ? new ApiError { Code = 500, Description = "unexpected answer to a JetStream publish" } : null));
        }
        catch (JsonException ex)
        {
            return new AckResult(0, new ApiError { Code = 500, Description = "unreadable PubAck: " + ex.Message });
        }
    }

    private void Sweep()
    {
        foreach (var (id, pending) in _pending)
        {
            if (_time.GetElapsedTime(pending.Sent) >= _timeout && _pending.TryRemove(id, out _))
            {
                pending.Completion.TrySetException(new TimeoutException(
                    $"JetStream did not acknowledge the append within {_timeout.TotalSeconds:0.#} s (Iot:Cluster:RequestTimeout)"));
            }
        }
    }

    private readonly record struct Pending(TaskCompletionSource<ulong> Completion, long Sent, string Stream);

    private sealed record AckResult(ulong Sequence, ApiError? Error);
}
