namespace Iot.Streams.Log;

internal sealed partial class SegmentLog
{
    /// <inheritdoc/>
    public ValueTask<IReadOnlyList<StreamRecord>> ReadAsync(long offset, int maxRecords, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRecords);
        return new(Read(offset, maxRecords));
    }

    /// <inheritdoc/>
    public ValueTask<long> FindOffsetAsync(DateTimeOffset time, CancellationToken cancellationToken = default) =>
        new(FindOffset(time.ToUnixTimeMilliseconds()));

    private List<StreamRecord> Read(long offset, int maxRecords)
    {
        for (var attempt = 1; ; attempt++)
        {
            // Read the end before the segments: everything below it is in a segment of this or a later snapshot.
            var end = NextOffset;
            var segments = _segments;
            var from = Math.Max(offset, segments[0].BaseOffset);
            var result = new List<StreamRecord>();
            if (from >= end)
            {
                return result;
            }

            try
            {
                for (int i = FindSegment(segments, from); i < segments.Length && result.Count < maxRecords; i++)
                {
                    var segment = segments[i];
                    using var handle = File.OpenHandle(segment.LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                    var start = segment.FloorPosition(from);
                    Segment.Scan(handle, start, segment.Size, (record, _) =>
                    {
                        var (recordOffset, _) = RecordFormat.Peek(record);
                        if (recordOffset >= end || result.Count >= maxRecords)
                        {
                            return false;
                        }

                        if (recordOffset >= from)
                        {
                            if (!RecordFormat.TryDecode(record, out var decoded))
                            {
                                throw new InvalidDataException($"Corrupt record at offset {recordOffset} in {segment.LogPath}.");
                            }

                            result.Add(decoded!);
                        }

                        return true;
                    });
                }

                return result;
            }
            catch (FileNotFoundException) when (attempt < 3)
            {
                // Retention removed a segment between the snapshot and the open: read again from the new start.
            }
        }
    }

    private long FindOffset(long timestampMs)
    {
        var end = NextOffset;
        foreach (var segment in _segments)
        {
            if (segment.MaxTimestampMs < timestampMs)
            {
                continue;
            }

            long found = -1;
            try
            {
                using var handle = File.OpenHandle(segment.LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                Segment.Scan(handle, segment.FloorTimePosition(timestampMs), segment.Size, (record, _) =>
                {
                    var (offset, timestamp) = RecordFormat.Peek(record);
                    if (timestamp >= timestampMs)
                    {
                        found = offset;
                        return false;
                    }

                    return true;
                });
            }
            catch (FileNotFoundException)
            {
                continue;
            }

            if (found >= 0)
            {
                return Math.Min(found, end);
            }
        }

        return end;
    }

    private static int FindSegment(Segment[] segments, long offset)
    {
        int lo = 0, hi = segments.Length - 1, found = 0;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            if (segments[mid].BaseOffset <= offset)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return found;
    }
}
