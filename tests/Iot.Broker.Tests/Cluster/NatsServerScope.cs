using System.Globalization;
using System.Text.RegularExpressions;
using Iot.TestUtilities;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;

namespace Iot.Broker.Tests.Cluster;

/// <summary>
/// One real <c>nats-server</c> with JetStream on a port it picks itself (<c>-p -1</c>), its store in a temp directory,
/// and a client connection to it. Disposing kills the server and deletes the directory.
/// </summary>
internal sealed partial class NatsServerScope : IAsyncDisposable
{
    private readonly TempDirectory _directory;
    private readonly ChildProcess _server;

    private NatsServerScope(TempDirectory directory, ChildProcess server, string url)
    {
        _directory = directory;
        _server = server;
        Url = url;
        Connection = new NatsConnection(NatsOpts.Default with { Url = url });
        KeyValue = new NatsKVContext(new NatsJSContext(Connection));
    }

    /// <summary>The server's client URL.</summary>
    public string Url { get; }

    /// <summary>A client connection.</summary>
    public NatsConnection Connection { get; }

    /// <summary>Key-value buckets on <see cref="Connection"/>.</summary>
    public INatsKVContext KeyValue { get; }

    /// <summary>Starts the server (<c>/usr/sbin/nats-server</c>, or <c>nats-server</c> on PATH) and connects.</summary>
    public static async Task<NatsServerScope> StartAsync()
    {
        var directory = new TempDirectory("iot-nats");
        var program = File.Exists("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : "nats-server";
        var server = ChildProcess.Start(program, ["-js", "-a", "127.0.0.1", "-p", "-1", "-sd", directory.Combine("js")]);
        try
        {
            // nats-server logs to stderr, which WaitForLineAsync does not read.
            var match = await Eventually.WaitForAsync(
                () => Task.FromResult(PortPattern().Match(server.StandardError)), static m => m.Success, TimeSpan.FromSeconds(20),
                "nats-server listening").ConfigureAwait(false);
            var port = int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
            var scope = new NatsServerScope(directory, server, $"nats://127.0.0.1:{port}");
            await scope.Connection.ConnectAsync().ConfigureAwait(false);
            return scope;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            directory.Dispose();
            throw;
        }
    }

    /// <summary>Another connection to the same server (as another broker node would have).</summary>
    public async Task<(NatsConnection Connection, INatsKVContext KeyValue)> ConnectAgainAsync()
    {
        var connection = new NatsConnection(NatsOpts.Default with { Url = Url });
        await connection.ConnectAsync().ConfigureAwait(false);
        return (connection, new NatsKVContext(new NatsJSContext(connection)));
    }

    public async ValueTask DisposeAsync()
    {
        await Connection.DisposeAsync().ConfigureAwait(false);
        await _server.DisposeAsync().ConfigureAwait(false);
        _directory.Dispose();
    }

    [GeneratedRegex(@"Listening for client connections on 127\.0\.0\.1:(\d+)")]
    private static partial Regex PortPattern();
}
