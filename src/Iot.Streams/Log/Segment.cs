using System.Buffers;
using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace Iot.Streams.Log;

/// <summary>Visits one encoded record at <paramref name="position"/>; returns false to stop before it.</summary>
internal delegate bool RecordVisitor(ReadOnlySpan<byte> record, long position);

/// <summary>
/// One segment of a partition: <c>{baseOffset:D20}.log</c> plus, once sealed, <c>.index</c> (sparse: relative
/// offset and file position every <c>IndexIntervalBytes</c>) and <c>.timeindex</c> (running maximum timestamp and
/// relative offset). The indexes live in memory; the active segment's are rebuilt from the log on recovery.
/// </summary>
internal sealed class Segment
{
    private const int IndexEntrySize = 8;
    private const int TimeIndexEntrySize = 12;
    private readonly Lock _lock = new();
    private readonly List<(int Rel, int Position)> _index = [];
    private readonly List<(long TimestampMs, int Rel)> _timeIndex = [];
    private readonly int _indexInterval;
    private long _size;
    private long _bytesSinceIndex = long.MaxValue;
    private long _bytesSinceTimeIndex = long.MaxValue;
    private long _maxTimestampMs = long.MinValue;
    private int _maxRel;

    public Segment(string directory, long baseOffset, int indexInterval)
    {
        BaseOffset = baseOffset;
        _indexInterval = indexInterval;
        LogPath = Path.Combine(directory, $"{baseOffset:D20}.log");
        IndexPath = Path.ChangeExtension(LogPath, ".index");
        TimeIndexPath = Path.ChangeExtension(LogPath, ".timeindex");
    }

    public long BaseOffset { get; }

    public string LogPath { get; }

    public string IndexPath { get; }

    public string TimeIndexPath { get; }

    /// <summary>Bytes of durable records (readers never read past it).</summary>
    public long Size => Volatile.Read(ref _size);

    /// <summary>Offset after the segment's last durable record.</summary>
    public long NextOffset { get; private set; }

    /// <summary>Largest record timestamp, or <see cref="long.MinValue"/> when empty.</summary>
    public long MaxTimestampMs => Volatile.Read(ref _maxTimestampMs);

    /// <summary>Timestamp of the first record, or <see cref="long.MinValue"/> when empty.</summary>
    public long FirstTimestampMs { get; private set; } = long.MinValue;

    public static long ParseBaseOffset(string logPath) =>
        long.Parse(Path.GetFileNameWithoutExtension(logPath), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Records a durable record in the indexes (the writer only, before publishing the new size).</summary>
    public void OnAppended(long offset, long timestampMs, long position, int size)
    {
        var rel = checked((int)(offset - BaseOffset));
        lock (_lock)
        {
            if (_bytesSinceIndex >= _indexInterval)
            {
                _index.Add((rel, checked((int)position)));
                _bytesSinceIndex = 0;
            }

            _bytesSinceIndex += size;
            if (timestampMs > _maxTimestampMs)
            {
                if (_bytesSinceTimeIndex >= _indexInterval)
                {
                    _timeIndex.Add((timestampMs, rel));
                    _bytesSinceTimeIndex = 0;
                }

                Volatile.Write(ref _maxTimestampMs, timestampMs);
                _maxRel = rel;
            }

            _bytesSinceTimeIndex += size;
            if (FirstTimestampMs == long.MinValue)
            {
                FirstTimestampMs = timestampMs;
            }

            NextOffset = offset + 1;
        }
    }

    public void Publish(long size) => Volatile.Write(ref _size, size);

    /// <summary>The file position of the indexed record at or before <paramref name="offset"/>.</summary>
    public long FloorPosition(long offset)
    {
        var rel = offset - BaseOffset;
        lock (_lock)
        {
            int lo = 0, hi = _index.Count - 1, found = -1;
            while (lo <= hi)
            {
                var mid = (lo + hi) >>> 1;
                if (_index[mid].Rel <= rel)
                {
                    found = mid;
                    lo = mid + 1;
                }
                else
                {
                    hi = mid - 1;
                }
            }

            return found < 0 ? 0 : _index[found].Position;
        }
    }

    /// <summary>A position from which every record with a timestamp at or after <paramref name="timestampMs"/> follows.</summary>
    public long FloorTimePosition(long timestampMs)
    {
        int rel = 0;
        lock (_lock)
        {
            foreach (var (ts, r) in _timeIndex)
            {
                if (ts >= timestampMs)
                {
                    break;
                }

                rel = r;
            }
        }

        return FloorPosition(BaseOffset + rel);
    }

    /// <summary>Writes the index files of a sealed segment and flushes them (they are rebuilt if missing or invalid).</summary>
    public void WriteIndexes()
    {
        lock (_lock)
        {
            if (_timeIndex.Count == 0 || _timeIndex[^1].TimestampMs != _maxTimestampMs)
            {
                if (_maxTimestampMs != long.MinValue)
                {
                    _timeIndex.Add((_maxTimestampMs, _maxRel));
                }
            }

            var index = new byte[_index.Count * IndexEntrySize];
            for (int i = 0; i < _index.Count; i++)
            {
                BinaryPrimitives.WriteInt32LittleEndian(index.AsSpan(i * IndexEntrySize), _index[i].Rel);
                BinaryPrimitives.WriteInt32LittleEndian(index.AsSpan(i * IndexEntrySize + 4), _index[i].Position);
            }

            var time = new byte[_timeIndex.Count * TimeIndexEntrySize];
            for (int i = 0; i < _timeIndex.Count; i++)
            {
                BinaryPrimitives.WriteInt64LittleEndian(time.AsSpan(i * TimeIndexEntrySize), _timeIndex[i].TimestampMs);
                BinaryPrimitives.WriteInt32LittleEndian(time.AsSpan(i * TimeIndexEntrySize + 8), _timeIndex[i].Rel);
            }

            WriteDurably(IndexPath, index);
            WriteDurably(TimeIndexPath, time);
        }
    }

    /// <summary>Loads a sealed segment's indexes; false when they are missing or do not fit the log (then rebuild).</summary>
    public bool TryLoadIndexes(long nextOffset)
    {
        var logSize = new FileInfo(LogPath).Length;
        if (!File.Exists(IndexPath) || !File.Exists(TimeIndexPath))
        {
            return false;
        }

        var index = File.ReadAllBytes(IndexPath);
        var time = File.ReadAllBytes(TimeIndexPath);
        if (index.Length % IndexEntrySize != 0 || time.Length % TimeIndexEntrySize != 0 || (logSize > 0 && (index.Length == 0 || time.Length == 0)))
        {
            return false;
        }

        lock (_lock)
        {
            _index.Clear();
            _timeIndex.Clear();
            for (int i = 0; i < index.Length; i += IndexEntrySize)
            {
                var entry = (BinaryPrimitives.ReadInt32LittleEndian(index.AsSpan(i)), BinaryPrimitives.ReadInt32LittleEndian(index.AsSpan(i + 4)));
                if (entry.Item2 >= logSize || entry.Item1 < 0 || entry.Item1 >= nextOffset - BaseOffset)
                {
                    return false;
                }

                _index.Add(entry);
            }

            for (int i = 0; i < time.Length; i += TimeIndexEntrySize)
            {
                _timeIndex.Add((BinaryPrimitives.ReadInt64LittleEndian(time.AsSpan(i)), BinaryPrimitives.ReadInt32LittleEndian(time.AsSpan(i + 8))));
            }

            _maxTimestampMs = _timeIndex.Count > 0 ? _timeIndex[^1].TimestampMs : long.MinValue;
            NextOffset = nextOffset;
            _size = logSize;
        }

        return true;
    }

    /// <summary>
    /// Scans the log from the start, rebuilding the indexes, and returns the end of the valid prefix: records must be
    /// whole, pass their CRC and carry consecutive offsets from <see cref="BaseOffset"/>.
    /// </summary>
    public long Rebuild(SafeFileHandle handle, long fileLength)
    {
        lock (_lock)
        {
            _index.Clear();
            _timeIndex.Clear();
            _bytesSinceIndex = _bytesSinceTimeIndex = long.MaxValue;
            _maxTimestampMs = long.MinValue;
            FirstTimestampMs = long.MinValue;
            NextOffset = BaseOffset;
        }

        var expected = BaseOffset;
        var end = Scan(handle, 0, fileLength, (record, position) =>
        {
            var (offset, timestamp) = RecordFormat.Peek(record);
            if (offset != expected || !RecordFormat.IsValid(record))
            {
                return false;
            }

            OnAppended(offset, timestamp, position, record.Length);
            expected++;
            return true;
        });
        Publish(end);
        return end;
    }

    /// <summary>
    /// Visits the whole records between <paramref name="position"/> and <paramref name="limit"/>; stops at a torn or
    /// impossible record or when the visitor says so, and returns the position after the last record visited.
    /// </summary>
    public static long Scan(SafeFileHandle handle, long position, long limit, RecordVisitor visitor)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (position < limit)
            {
                var want = (int)Math.Min(buffer.Length, limit - position);
                var read = ReadAtLeast(handle, buffer.AsSpan(0, want), position);
                var at = 0;
                while (at + RecordFormat.PrefixSize <= read)
                {
                    var size = RecordFormat.ReadSize(buffer.AsSpan(at));
                    if (size < 0 || position + at + size > limit)
                    {
                        return position + at;
                    }

                    if (at + size > read)
                    {
                        break;
                    }

                    if (!visitor(buffer.AsSpan(at, size), position + at))
                    {
                        return position + at;
                    }

                    at += size;
                }

                if (at == 0)
                {
                    // Not even one record fits in the buffer: grow it to the record's size and read again.
                    var size = read >= RecordFormat.PrefixSize ? RecordFormat.ReadSize(buffer) : -1;
                    if (size < 0 || read < want)
                    {
                        return position;
                    }

                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = ArrayPool<byte>.Shared.Rent(size);
                    continue;
                }

                position += at;
            }

            return position;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static int ReadAtLeast(SafeFileHandle handle, Span<byte> buffer, long position)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var read = RandomAccess.Read(handle, buffer[total..], position + total);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return total;
    }

    private static void WriteDurably(string path, byte[] content)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read);
        stream.Write(content);
        stream.Flush(flushToDisk: true);
    }
}
