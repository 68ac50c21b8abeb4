using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Iot.Streams.Log.JetStream;

internal sealed partial class JetStreamLog
{
    /// <summary>Gets per round: records of one read are fetched this many at a time, concurrently.</summary>
    private const int ReadParallelism = 64;

    /// <inheritdoc/>
    public async ValueTask<IReadOnlyList<StreamRecord>> ReadAsync(long offset, int maxRecords, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRecords);
        var end = NextOffset;
        var from = Math.Max(offset, StartOffset);
        var result = new List<StreamRecord>();
        if (from >= end)
        {
            return result;
        }

        // The first record at or after 'from' (retention may have removed 'from' itself); its offset is the new start.
        if (await GetAsync((ulong)from + 1, next: true, cancellationToken).ConfigureAwait(false) is not { } first)
        {
            return result;
        }

        if (first.Offset > from)
        {
            AdvanceFirst(first.Offset + 1);
        }

        result.Add(first);
        var last = Math.Min(end, first.Offset + maxRecords);
        var tasks = new Task<StreamRecord?>[Math.Min(ReadParallelism, (int)Math.Max(0, last - first.Offset - 1))];
        for (var next = first.Offset + 1; next < last; next += tasks.Length)
        {
            var count = (int)Math.Min(tasks.Length, last - next);
            for (var i = 0; i < count; i++)
            {
                tasks[i] = GetAsync((ulong)(next + i) + 1, next: false, cancellationToken);
            }

            for (var i = 0; i < count; i++)
            {
                // A record missing inside the range was removed by retention meanwhile: the read goes on after it.
                if (await tasks[i].ConfigureAwait(false) is { } record)
                {
                    result.Add(record);
                }
            }
        }

        return result;
    }

    /// <inheritdoc/>
    public async ValueTask<long> FindOffsetAsync(DateTimeOffset time, CancellationToken cancellationToken = default)
    {
        // Binary search over the records' own timestamps (append times, in offset order), one get per probe.
        var target = time.ToUnixTimeMilliseconds();
        var end = NextOffset;
        var lo = StartOffset;
        var hi = end;
        while (lo < hi)
        {
            var mid = lo + ((hi - lo) / 2);
            if (await GetAsync((ulong)mid + 1, next: true, cancellationToken).ConfigureAwait(false) is not { } probe)
            {
                return end;
            }

            if (probe.Offset >= hi)
            {
                hi = mid;
            }
            else if (probe.Timestamp.ToUnixTimeMilliseconds() >= target)
            {
                hi = mid;
            }
            else
            {
                lo = probe.Offset + 1;
            }
        }

        return lo;
    }

    /// <summary>
    /// The record at <paramref name="sequence"/> (or, with <paramref name="next"/>, the first one at or after it) from the
    /// stream leader, so a record acknowledged to anyone is found; null when there is none.
    /// </summary>
    private async Task<StreamRecord?> GetAsync(ulong sequence, bool next, CancellationToken cancellationToken)
    {
        var request = next ? new StreamMsgGetRequest { Seq = sequence, NextBySubj = Subject } : new StreamMsgGetRequest { Seq = sequence };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.RequestTimeout);
        StreamMsgGetResponse response;
        try
        {
            response = await Stream.GetAsync(request, timeout.Token).ConfigureAwait(false);
        }
        catch (NatsJSApiException ex) when (ex.Error.Code == 404)
        {
            return null;
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"JetStream did not answer a read of {StreamName} within {_options.RequestTimeout.TotalSeconds:0.#} s (Iot:Cluster:RequestTimeout)", ex);
        }

        var message = response.Message;
        return JetStreamRecord.Decode((long)message.Seq - 1, message.Data);
    }
}
