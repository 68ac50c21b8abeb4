using System.Globalization;

namespace Iot.TestUtilities;

/// <summary>One message as <c>mosquitto_sub</c> printed it.</summary>
/// <param name="Retain">The RETAIN flag of the PUBLISH the client received.</param>
/// <param name="QualityOfService">The QoS of the delivery.</param>
/// <param name="Topic">The topic name.</param>
/// <param name="MessageExpiryInterval">MQTT 5 Message Expiry Interval, seconds; null when absent.</param>
/// <param name="UserProperties">MQTT 5 user properties as <c>key:value</c> pairs in the order received.</param>
/// <param name="Payload">The payload as text.</param>
public sealed record MosquittoMessage(bool Retain, int QualityOfService, string Topic, uint? MessageExpiryInterval, IReadOnlyList<string> UserProperties, string Payload);

/// <summary>
/// A running <c>mosquitto_sub -d</c>: the messages it printed, parsed, and the granted QoS. Kill it with
/// <see cref="Kill"/> (SIGKILL, so that its will is published); disposing kills it too.
/// </summary>
public sealed class MosquittoSubscriber : IAsyncDisposable
{
    private const string MessagePrefix = "MSG\t";
    private const string Format = "MSG\\t%r\\t%q\\t%t\\t%E\\t%P\\t%p";
    private static readonly TimeSpan SubackTimeout = TimeSpan.FromSeconds(15);
    private readonly ChildProcess _process;

    private MosquittoSubscriber(ChildProcess process, IReadOnlyList<int> grantedQos)
    {
        _process = process;
        GrantedQos = grantedQos;
    }

    /// <summary>The return codes of the SUBACK, one per topic filter (128 or 0x80+ is a failure).</summary>
    public IReadOnlyList<int> GrantedQos { get; }

    /// <summary>Everything the client printed (debug lines included), for failure messages.</summary>
    public string Output => _process.Output;

    /// <summary>True once the client has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>The messages received so far, in arrival order.</summary>
    public IReadOnlyList<MosquittoMessage> Messages =>
        _process.OutputLines.Where(l => l.StartsWith(MessagePrefix, StringComparison.Ordinal)).Select(Parse).ToArray();

    /// <summary>Waits until at least <paramref name="count"/> messages arrived and returns all received so far.</summary>
    public async Task<IReadOnlyList<MosquittoMessage>> WaitForMessagesAsync(int count, TimeSpan timeout)
    {
        try
        {
            await Eventually.WaitUntilAsync(() => Messages.Count >= count || _process.HasExited, timeout, $"{count} message(s)");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message}\n`{_process.CommandLine}` printed:\n{Output}", ex);
        }

        var messages = Messages;
        if (messages.Count < count)
        {
            throw new InvalidOperationException($"mosquitto_sub exited after {messages.Count} of {count} message(s).\n`{_process.CommandLine}` printed:\n{Output}");
        }

        return messages;
    }

    /// <summary>Waits for the first message that matches <paramref name="match"/> and returns all received up to and including it.</summary>
    public async Task<IReadOnlyList<MosquittoMessage>> WaitForMessageAsync(Func<MosquittoMessage, bool> match, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(match);
        await _process.WaitForLineAsync(l => l.StartsWith(MessagePrefix, StringComparison.Ordinal) && match(Parse(l)), timeout, "the awaited message");
        var messages = Messages;
        var index = messages.ToList().FindIndex(m => match(m));
        return messages.Take(index + 1).ToArray();
    }

    /// <summary>SIGKILL: the client dies without DISCONNECT, as a crashed device would.</summary>
    public async Task KillAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>Kills the client if it still runs.</summary>
    public ValueTask DisposeAsync() => _process.DisposeAsync();

    internal static async Task<MosquittoSubscriber> StartAsync(IEnumerable<string> args)
    {
        var tool = ExternalClients.RequireTool("mosquitto_sub", ExternalClients.AptPackage);

        // stdout is a pipe, so stdio would buffer it in blocks: stdbuf makes each line (the SUBACK above all) arrive at once.
        var stdbuf = ExternalClients.RequireTool("stdbuf", "coreutils");
        var process = ChildProcess.Start(stdbuf, ["-oL", tool, .. args, "-d", "-F", Format]);
        try
        {
            var subscribed = await process.WaitForLineAsync(
                l => l.StartsWith("Subscribed (mid:", StringComparison.Ordinal), SubackTimeout, "its SUBACK ('Subscribed (mid: ...)')");
            var codes = subscribed[(subscribed.IndexOf(':', subscribed.IndexOf(')', StringComparison.Ordinal)) + 1)..]
                .Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Select(c => int.Parse(c, CultureInfo.InvariantCulture))
                .ToArray();
            return new MosquittoSubscriber(process, codes);
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    private static MosquittoMessage Parse(string line)
    {
        // MSG \t retain \t qos \t topic \t expiry \t user properties \t payload (the payload may hold tabs)
        var parts = line.Split('\t', 7);
        if (parts.Length < 7)
        {
            throw new FormatException($"Unexpected mosquitto_sub output line: {line}");
        }

        return new MosquittoMessage(
            parts[1] == "1",
            int.Parse(parts[2], CultureInfo.InvariantCulture),
            parts[3],
            parts[4].Length == 0 ? null : uint.Parse(parts[4], CultureInfo.InvariantCulture),
            parts[5].Split(' ', StringSplitOptions.RemoveEmptyEntries),
            parts[6]);
    }
}
