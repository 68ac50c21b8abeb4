namespace Iot.TestUtilities;

/// <summary>
/// Command-line MQTT clients nobody here wrote: <c>mosquitto_pub</c> and <c>mosquitto_sub</c> from Debian's
/// mosquitto-clients. A missing tool fails the test with a message that says how to install it; it never skips.
/// </summary>
public static class ExternalClients
{
    /// <summary>How long a one-shot client may run before it is killed.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Runs <c>mosquitto_pub</c> with <paramref name="args"/> to completion (killed after <see cref="DefaultTimeout"/>).</summary>
    public static Task<ProcessResult> MosquittoPubAsync(params string[] args) => MosquittoPubAsync(args, DefaultTimeout);

    /// <summary>Runs <c>mosquitto_pub</c> with <paramref name="args"/> to completion.</summary>
    public static Task<ProcessResult> MosquittoPubAsync(IEnumerable<string> args, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        ChildProcess.RunAsync(RequireTool("mosquitto_pub", AptPackage), args, timeout, cancellationToken: cancellationToken);

    /// <summary>
    /// Runs <c>mosquitto_sub</c> to completion: give it <c>-C count</c> and/or <c>-W seconds</c> so that it ends by
    /// itself (exit code 27 means <c>-W</c> ran out); it is killed after <paramref name="timeout"/> in any case.
    /// </summary>
    public static Task<ProcessResult> MosquittoSubAsync(IEnumerable<string> args, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        ChildProcess.RunAsync(RequireTool("mosquitto_sub", AptPackage), args, timeout, cancellationToken: cancellationToken);

    /// <summary>
    /// Starts <c>mosquitto_sub</c> with <paramref name="args"/> (plus <c>-d</c> and a parseable <c>-F</c> format) and
    /// returns once the broker acknowledged the subscription (SUBACK), so that what is published next must reach it.
    /// </summary>
    public static Task<MosquittoSubscriber> StartMosquittoSubAsync(params string[] args) => MosquittoSubscriber.StartAsync(args);

    internal const string AptPackage = "mosquitto-clients";

    /// <summary>The full path of <paramref name="tool"/> on PATH, or a failure that says how to get it.</summary>
    /// <exception cref="InvalidOperationException">The tool is not installed.</exception>
    public static string RequireTool(string tool, string aptPackage)
    {
        ArgumentNullException.ThrowIfNull(tool);
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var dir in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, tool);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException(
            $"'{tool}' was not found on PATH. The integration tests need it: run scripts/test.sh, which installs every test " +
            $"tool (Debian package '{aptPackage}'), or install it with `apt-get install {aptPackage}`.");
    }
}
