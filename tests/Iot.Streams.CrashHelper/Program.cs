using System.Globalization;
using System.Text;
using Iot.Streams.Log;

// Appends to a partition log from several writers until killed, printing "ACK {offset} {writer} {seq}" for every
// append whose durability the log acknowledged. The crash test kills it with SIGKILL and checks the log against the
// acknowledged lines. Usage: Iot.Streams.CrashHelper <directory> [writers]
if (args.Length < 1)
{
    Console.Error.WriteLine("usage: Iot.Streams.CrashHelper <directory> [writers]");
    return 2;
}

var writers = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 8;
await using var log = SegmentLog.Open(args[0], new SegmentLogOptions { SegmentBytes = 256 * 1024 });
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"READY {log.NextOffset}"));
var tasks = Enumerable.Range(0, writers).Select(writer => Task.Run(async () =>
{
    for (var seq = 0; ; seq++)
    {
        var payload = Encoding.UTF8.GetBytes(CrashRecord.Payload(writer, seq));
        var offset = await log.AppendAsync(new AppendRecord(DateTimeOffset.UtcNow, $"w{writer}", "crash/test", payload));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ACK {offset} {writer} {seq}"));
    }
}));
await Task.WhenAll(tasks);
return 0;

/// <summary>The payload of writer <c>w</c>'s record <c>seq</c>, shared with the test that checks it.</summary>
internal static class CrashRecord
{
    public static string Payload(int writer, int seq) =>
        string.Create(CultureInfo.InvariantCulture, $"{writer}:{seq}:") + new string('x', (writer * 131 + seq * 17) % 700);
}
