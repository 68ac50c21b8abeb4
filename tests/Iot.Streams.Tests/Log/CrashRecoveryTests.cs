using System.Diagnostics;
using System.Globalization;
using System.Text;
using Iot.Streams.Log;

namespace Iot.Streams.Tests.Log;

/// <summary>
/// Kills a process that appends from several writers with SIGKILL in the middle of its appends, then reopens the log:
/// every acknowledged record must be there, intact, at its offset, and no torn record may be served.
/// </summary>
[Trait("Category", "Slow")]
public sealed class CrashRecoveryTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string Payload(int writer, int seq) =>
        string.Create(CultureInfo.InvariantCulture, $"{writer}:{seq}:") + new string('x', (writer * 131 + seq * 17) % 700);

    [Fact]
    public async Task SigkillMidAppend_Reopen_NoAcknowledgedRecordLostAndNoTornRecordServed()
    {
        var path = _dir.Combine("log");
        long lastNext = 0;
        for (var round = 0; round < 3; round++)
        {
            var acknowledged = await RunAndKillAsync(path, acknowledgements: 3000);

            await using var log = SegmentLog.Open(path, new SegmentLogOptions { SegmentBytes = 256 * 1024 });
            Assert.True(log.NextOffset >= lastNext, "offsets never go back");
            Assert.True(log.NextOffset > acknowledged.Keys.Max(), $"round {round}: end {log.NextOffset} is before an acknowledged offset");

            // Every record from the start decodes (CRC checked) and offsets are gap-free.
            var expected = 0L;
            var byOffset = new Dictionary<long, string>();
            while (expected < log.NextOffset)
            {
                var records = await log.ReadAsync(expected, 1000);
                Assert.NotEmpty(records);
                foreach (var record in records)
                {
                    Assert.Equal(expected++, record.Offset);
                    byOffset[record.Offset] = Encoding.UTF8.GetString(record.Payload.Span);
                }
            }

            foreach (var (offset, (writer, seq)) in acknowledged)
            {
                Assert.Equal(Payload(writer, seq), byOffset[offset]);
            }

            lastNext = log.NextOffset;
        }
    }

    private static async Task<Dictionary<long, (int Writer, int Seq)>> RunAndKillAsync(string path, int acknowledgements)
    {
        var helper = Path.Combine(AppContext.BaseDirectory, "Iot.Streams.CrashHelper.dll");
        Assert.True(File.Exists(helper), $"{helper} is missing: the test project references tests/Iot.Streams.CrashHelper.");
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { helper, path, "8" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var acknowledged = new Dictionary<long, (int, int)>();
        var enough = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stderr = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not { } line || !line.StartsWith("ACK ", StringComparison.Ordinal))
            {
                return;
            }

            var parts = line.Split(' ');
            lock (acknowledged)
            {
                acknowledged[long.Parse(parts[1], CultureInfo.InvariantCulture)] =
                    (int.Parse(parts[2], CultureInfo.InvariantCulture), int.Parse(parts[3], CultureInfo.InvariantCulture));
                if (acknowledged.Count >= acknowledgements)
                {
                    enough.TrySetResult();
                }
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            lock (stderr)
            {
                stderr.AppendLine(e.Data);
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await enough.Task.WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"The crash helper acknowledged {acknowledged.Count} appends in 60 s; stderr: {stderr}");
        }
        finally
        {
            // SIGKILL while the writers are appending: no chance to flush or close anything.
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        lock (acknowledged)
        {
            return new Dictionary<long, (int, int)>(acknowledged);
        }
    }
}
