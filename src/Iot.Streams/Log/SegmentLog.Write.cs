using System.Buffers;
using System.Diagnostics;
using System.Threading.Channels;
using Iot.Messaging.Storage;

namespace Iot.Streams.Log;

internal sealed partial class SegmentLog
{
    private async Task WriteLoopAsync()
    {
        var reader = _appends.Reader;
        var batch = new List<PendingAppend>(_options.MaxBatchRecords);
        var retentionRequests = new List<PendingAppend>();
        var buffer = new ArrayBufferWriter<byte>(64 * 1024);
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (batch.Count < _options.MaxBatchRecords && reader.TryRead(out var pending))
            {
                (pending.IsRetention ? retentionRequests : batch).Add(pending);
            }

            if (batch.Count > 0)
            {
                WriteBatch(batch, buffer);
                batch.Clear();
                buffer.ResetWrittenCount();
            }

            if (retentionRequests.Count > 0 || _options.TimeProvider.GetElapsedTime(_lastRetentionCheck) >= _options.RetentionCheckInterval)
            {
                _lastRetentionCheck = _options.TimeProvider.GetTimestamp();
                RunRetention(retentionRequests);
                retentionRequests.Clear();
            }
        }
    }

    /// <summary>
    /// Applies retention on the writer (the only one that may seal the active segment) and answers the requests of
    /// <see cref="ApplyRetentionAsync"/>; a file that cannot be removed fails the requests, never the writer.
    /// </summary>
    private void RunRetention(List<PendingAppend> requests)
    {
        try
        {
            var removed = ApplyRetention();
            foreach (var request in requests)
            {
                request.Completion.TrySetResult(removed);
                removed = 0;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            foreach (var request in requests)
            {
                request.Completion.TrySetException(ex);
            }
        }
    }

    /// <summary>Writes one group: one write call, one flush, then the new end is published and the appends complete.</summary>
    private void WriteBatch(List<PendingAppend> batch, ArrayBufferWriter<byte> buffer)
    {
        Segment? active = null;
        long position = 0;
        var started = Stopwatch.GetTimestamp();
        try
        {
            RollIfNeeded();
            active = _segments[^1];
            position = active.Size;
            var first = _nextOffset;
            for (int i = 0; i < batch.Count; i++)
            {
                RecordFormat.Write(buffer, batch[i].Record, first + i);
            }

            RandomAccess.Write(_activeHandle, buffer.WrittenSpan, position);
            if (_options.Fsync == FsyncPolicy.PerGroup)
            {
                RandomAccess.FlushToDisk(_activeHandle);
            }

            var at = position;
            for (int i = 0; i < batch.Count; i++)
            {
                var size = RecordFormat.SizeOf(batch[i].Record);
                active.OnAppended(first + i, batch[i].Record.Timestamp.ToUnixTimeMilliseconds(), at, size);
                at += size;
            }

            _options.AppendDuration?.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new KeyValuePair<string, object?>("stream", _options.StreamName));
            active.Publish(at);
            Volatile.Write(ref _nextOffset, first + batch.Count);
            Interlocked.Exchange(ref _appended, NewSignal()).TrySetResult();
            for (int i = 0; i < batch.Count; i++)
            {
                batch[i].Completion.TrySetResult(first + i);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Nothing of the group is acknowledged; cut what may have reached the file so that a later group (which
            // reuses these offsets) never leaves records of this one behind it.
            if (active is not null)
            {
                TryTruncate(position);
            }

            foreach (var pending in batch)
            {
                pending.Completion.TrySetException(ex);
            }
        }
    }

    private void TryTruncate(long position)
    {
        try
        {
            RandomAccess.SetLength(_activeHandle, position);
        }
        catch (IOException)
        {
            // The next group overwrites from the same position; recovery cuts anything after the last valid record.
        }
    }

    private void RollIfNeeded()
    {
        var active = _segments[^1];
        if (active.Size == 0)
        {
            return;
        }

        var age = _options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds() - active.FirstTimestampMs;
        if (active.Size < _options.SegmentBytes && age < _options.SegmentMaxAge.TotalMilliseconds)
        {
            return;
        }

        Roll(active);
    }

    /// <summary>Seals the active segment and begins an empty one at the next offset (the writer only).</summary>
    private void Roll(Segment active)
    {
        active.WriteIndexes();
        var next = new Segment(_directory, _nextOffset, _options.IndexIntervalBytes);
        var handle = File.OpenHandle(next.LogPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete);
        DirectorySync.Flush(_directory);
        var old = _activeHandle;
        _activeHandle = handle;
        old.Dispose();
        lock (_segmentsLock)
        {
            _segments = [.. _segments, next];
        }
    }

    /// <inheritdoc/>
    /// <remarks>
    /// Runs on the writer, after the appends queued before it: a partition that nobody writes to any more has all its
    /// records in the active segment, which only the writer may seal; once its newest record is older than the
    /// retention age it is sealed (an empty segment at the next offset keeps the offsets going) and removed with the rest.
    /// </remarks>
    public ValueTask<long> ApplyRetentionAsync(CancellationToken cancellationToken = default)
    {
        var request = PendingAppend.Retention();
        return _appends.Writer.TryWrite(request)
            ? new ValueTask<long>(request.Completion.Task.WaitAsync(cancellationToken))
            : SlowRetentionAsync(request, cancellationToken);
    }

    private async ValueTask<long> SlowRetentionAsync(PendingAppend request, CancellationToken cancellationToken)
    {
        try
        {
            await _appends.Writer.WriteAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException ex)
        {
            throw new ObjectDisposedException($"The stream log {_directory} is closed.", ex);
        }

        return await request.Completion.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Seals the active segment when all its records are older than the retention age, deletes sealed segments older
    /// than the retention age, then the oldest ones while over the size limit (the writer only).
    /// </summary>
    private long ApplyRetention()
    {
        var cutoff = _options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds() - (long)_options.RetentionAge.TotalMilliseconds;
        if (_segments[^1] is { Size: > 0 } active && active.MaxTimestampMs < cutoff)
        {
            Roll(active);
        }

        List<Segment> removed = [];
        lock (_segmentsLock)
        {
            var segments = _segments;
            var total = segments.Sum(s => s.Size);
            var keepFrom = 0;
            while (keepFrom < segments.Length - 1)
            {
                var segment = segments[keepFrom];
                var expired = segment.MaxTimestampMs < cutoff;
                var oversize = _options.RetentionBytes is { } limit && total > limit;
                if (!expired && !oversize)
                {
                    break;
                }

                total -= segment.Size;
                removed.Add(segment);
                keepFrom++;
            }

            if (keepFrom == 0)
            {
                return 0;
            }

            _segments = segments[keepFrom..];
        }

        foreach (var segment in removed)
        {
            File.Delete(segment.LogPath);
            File.Delete(segment.IndexPath);
            File.Delete(segment.TimeIndexPath);
        }

        return _segments[0].BaseOffset - removed[0].BaseOffset;
    }
}
