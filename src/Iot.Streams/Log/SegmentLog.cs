using System.Threading.Channels;
using Iot.Messaging.Storage;
using Microsoft.Win32.SafeHandles;

namespace Iot.Streams.Log;

/// <summary>
/// The file implementation of <see cref="IStreamLog"/>: a directory of segments written by one group-commit loop.
/// Appends wait in a bounded channel; the loop takes what is waiting, encodes it into one buffer, writes it with one
/// call, flushes per <see cref="FsyncPolicy"/>, then publishes the new end and completes the appends. Readers open
/// segments themselves and never read past the published end, so they see only durable, whole records.
/// </summary>
internal sealed partial class SegmentLog : IStreamLog
{
    private readonly string _directory;
    private readonly SegmentLogOptions _options;
    private readonly Channel<PendingAppend> _appends;
    private readonly Lock _segmentsLock = new();
    private readonly Task _writer;
    private volatile Segment[] _segments;
    private SafeFileHandle _activeHandle;
    private long _nextOffset;
    private TaskCompletionSource _appended = NewSignal();
    private long _lastRetentionCheck;

    private SegmentLog(string directory, SegmentLogOptions options, Segment[] segments, SafeFileHandle activeHandle)
    {
        _directory = directory;
        _options = options;
        _segments = segments;
        _activeHandle = activeHandle;
        _nextOffset = segments[^1].NextOffset;
        _lastRetentionCheck = options.TimeProvider.GetTimestamp();
        _appends = Channel.CreateBounded<PendingAppend>(new BoundedChannelOptions(options.QueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
        _writer = Task.Run(WriteLoopAsync);
    }

    /// <summary>The directory of the partition.</summary>
    public string Directory => _directory;

    /// <inheritdoc/>
    public long StartOffset => _segments[0].BaseOffset;

    /// <inheritdoc/>
    public long NextOffset => Volatile.Read(ref _nextOffset);

    /// <summary>
    /// What recovery cut from the active segment when the log was opened: the file, the position of the first record
    /// that was not whole, valid and in sequence, and the bytes after it; null when nothing was cut. After a crash this
    /// is the torn tail of a write nobody was told about; anywhere else it is damage (the records after the damaged one
    /// are lost with it, as Kafka's recovery truncates a segment at its first invalid batch).
    /// </summary>
    public (string File, long Position, long Bytes)? RecoveryCut { get; private init; }

    /// <summary>Number of segments (for tests and metrics).</summary>
    public int SegmentCount => _segments.Length;

    /// <summary>
    /// Opens (or creates) the log in <paramref name="directory"/>. Recovery: the last segment is scanned and cut after
    /// its last whole record with a valid CRC and the expected offset, so a torn tail from a crash is never served;
    /// every acknowledged record was flushed before its acknowledgement, so it lies before the cut.
    /// </summary>
    public static SegmentLog Open(string directory, SegmentLogOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!System.IO.Directory.Exists(directory))
        {
            System.IO.Directory.CreateDirectory(directory);
            if (Path.GetDirectoryName(Path.GetFullPath(directory)) is { } parent)
            {
                DirectorySync.Flush(parent);
            }
        }
        var bases = System.IO.Directory.GetFiles(directory, "*.log").Select(Segment.ParseBaseOffset).Order().ToList();
        if (bases.Count == 0)
        {
            bases.Add(0);
        }

        var segments = new Segment[bases.Count];
        for (int i = 0; i < bases.Count - 1; i++)
        {
            var sealedSegment = new Segment(directory, bases[i], options.IndexIntervalBytes);
            if (!sealedSegment.TryLoadIndexes(bases[i + 1]))
            {
                using var handle = File.OpenHandle(sealedSegment.LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                sealedSegment.Rebuild(handle, RandomAccess.GetLength(handle));
                sealedSegment.WriteIndexes();
            }

            segments[i] = sealedSegment;
        }

        var active = new Segment(directory, bases[^1], options.IndexIntervalBytes);
        (string File, long Position, long Bytes)? cut = null;
        var created = !File.Exists(active.LogPath);
        var activeHandle = File.OpenHandle(active.LogPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete);
        if (created)
        {
            DirectorySync.Flush(directory);
        }

        try
        {
            var length = RandomAccess.GetLength(activeHandle);
            var valid = active.Rebuild(activeHandle, length);
            if (valid < length)
            {
                cut = (active.LogPath, valid, length - valid);
                RandomAccess.SetLength(activeHandle, valid);
                RandomAccess.FlushToDisk(activeHandle);
            }

            // Index files of the active segment are written when it is sealed; stale ones would mislead a reader.
            File.Delete(active.IndexPath);
            File.Delete(active.TimeIndexPath);
        }
        catch
        {
            activeHandle.Dispose();
            throw;
        }

        segments[^1] = active;
        return new SegmentLog(directory, options, segments, activeHandle) { RecoveryCut = cut };
    }

    /// <inheritdoc/>
    public ValueTask<long> AppendAsync(AppendRecord record, CancellationToken cancellationToken = default)
    {
        if (record.Key is { Length: > 1024 } || record.Topic is { Length: > 8192 })
        {
            throw new ArgumentException("The key must be at most 1024 and the topic at most 8192 characters.", nameof(record));
        }

        if (RecordFormat.SizeOf(record) > RecordFormat.MaxRecordSize)
        {
            throw new ArgumentException($"The record is larger than {RecordFormat.MaxRecordSize} bytes.", nameof(record));
        }

        var pending = new PendingAppend(record with { Payload = record.Payload.ToArray() });
        return _appends.Writer.TryWrite(pending)
            ? new ValueTask<long>(pending.Completion.Task)
            : SlowAppendAsync(pending, cancellationToken);
    }

    /// <inheritdoc/>
    public ValueTask WaitForRecordsAsync(long offset, CancellationToken cancellationToken = default)
    {
        var signal = Volatile.Read(ref _appended);
        return NextOffset > offset ? ValueTask.CompletedTask : WaitSlowAsync(signal, offset, cancellationToken);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        _appends.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
        _activeHandle.Dispose();
    }

    private async ValueTask<long> SlowAppendAsync(PendingAppend pending, CancellationToken cancellationToken)
    {
        await _appends.Writer.WriteAsync(pending, cancellationToken).ConfigureAwait(false);
        return await pending.Completion.Task.ConfigureAwait(false);
    }

    private async ValueTask WaitSlowAsync(TaskCompletionSource signal, long offset, CancellationToken cancellationToken)
    {
        while (NextOffset <= offset)
        {
            await signal.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            signal = Volatile.Read(ref _appended);
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed class PendingAppend(AppendRecord record, bool isRetention = false)
    {
        public AppendRecord Record { get; } = record;

        /// <summary>A request of <see cref="ApplyRetentionAsync"/> rather than an append: completed with the records removed.</summary>
        public bool IsRetention { get; } = isRetention;

        public TaskCompletionSource<long> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public static PendingAppend Retention() => new(default, isRetention: true);
    }
}
