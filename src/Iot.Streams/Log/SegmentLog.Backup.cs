using Microsoft.Win32.SafeHandles;

namespace Iot.Streams.Log;

internal sealed partial class SegmentLog
{
    /// <summary>
    /// Copies the log, as of now, into <paramref name="targetDirectory"/> while appends and retention go on: the
    /// segments are taken and opened under the segments lock (retention deletes files only after removing them from
    /// the list, so each one opened is whole), then each sealed segment is copied whole and the active one up to its
    /// published end, which covers only durable, whole records. The copy is a prefix of the log: a log opened on it
    /// starts at <c>StartOffset</c> and continues at <c>NextOffset</c>. Index files are left out; opening rebuilds them.
    /// </summary>
    /// <returns>The first offset and the next offset of the copy.</returns>
    public async Task<(long StartOffset, long NextOffset)> CopyToAsync(string targetDirectory, CancellationToken cancellationToken)
    {
        Segment[] segments;
        long activeEnd;
        var handles = new List<SafeFileHandle>();
        try
        {
            lock (_segmentsLock)
            {
                segments = _segments;
                activeEnd = segments[^1].Size;
                foreach (var segment in segments)
                {
                    handles.Add(File.OpenHandle(segment.LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete));
                }
            }

            System.IO.Directory.CreateDirectory(targetDirectory);
            var buffer = new byte[81920];
            for (int i = 0; i < segments.Length; i++)
            {
                var length = i == segments.Length - 1 ? activeEnd : RandomAccess.GetLength(handles[i]);
                var target = Path.Combine(targetDirectory, Path.GetFileName(segments[i].LogPath));
                await using var output = new FileStream(target, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous);
                for (long position = 0; position < length;)
                {
                    var read = await RandomAccess.ReadAsync(handles[i], buffer.AsMemory(0, (int)Math.Min(buffer.Length, length - position)), position, cancellationToken)
                        .ConfigureAwait(false);
                    if (read == 0)
                    {
                        throw new IOException($"{segments[i].LogPath} ended at {position} of {length} bytes while it was copied.");
                    }

                    await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                    position += read;
                }

                output.Flush(flushToDisk: true);
            }
        }
        finally
        {
            foreach (var handle in handles)
            {
                handle.Dispose();
            }
        }

        return (segments[0].BaseOffset, CountTo(segments[^1], activeEnd));
    }

    /// <summary>The next offset after the records of <paramref name="segment"/> that end by <paramref name="end"/> (a scan, as recovery does).</summary>
    private static long CountTo(Segment segment, long end)
    {
        using var handle = File.OpenHandle(segment.LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var scan = new Segment(Path.GetDirectoryName(segment.LogPath)!, segment.BaseOffset, int.MaxValue);
        scan.Rebuild(handle, end);
        return scan.NextOffset;
    }
}
