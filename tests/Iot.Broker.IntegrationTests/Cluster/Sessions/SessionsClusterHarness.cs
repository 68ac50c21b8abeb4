using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Iot.TestUtilities;
using NATS.Client.Core;
using NATS.Client.JetStream;

namespace Iot.Broker.IntegrationTests.Cluster.Sessions;

/// <summary>
/// Three <c>nats-server</c> processes (JetStream, one cluster, free loopback ports, a temp dir) and broker child
/// processes in cluster mode on them, for the session tests. Kills and cleans up every process on dispose.
/// </summary>
/// <remarks>A stand-in until the shared NatsClusterFixture (branch issue18-fixture) is merged; it does only what these tests need.</remarks>
internal sealed class SessionsClusterHarness : IAsyncDisposable
{
    private readonly TempDirectory _temp = new("iot-sessions");
    private readonly List<(string Name, int ClientPort, int RoutePort, ChildProcess? Process)> _servers = [];
    private readonly List<BrokerProcess> _brokers = [];

    private SessionsClusterHarness()
    {
    }

    /// <summary>Every server's client URL, comma separated (the broker's <c>Iot:Cluster:Nats:Url</c>).</summary>
    public string Url => string.Join(',', _servers.Select(s => $"nats://127.0.0.1:{s.ClientPort}"));

    public static async Task<SessionsClusterHarness> StartAsync(int servers = 3)
    {
        var harness = new SessionsClusterHarness();
        try
        {
            for (var i = 0; i < servers; i++)
            {
                harness._servers.Add(($"n{i}", FreePort(), FreePort(), null));
            }

            for (var i = 0; i < servers; i++)
            {
                harness.StartServer(i);
            }

            foreach (var server in harness._servers)
            {
                // nats-server logs to stderr.
                var process = server.Process!;
                await Eventually.WaitUntilAsync(() => process.StandardError.Contains("Server is ready", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "nats-server is ready");
            }

            await using var nats = new NatsConnection(new NatsOpts { Url = harness.Url });
            await nats.ConnectAsync();
            var js = new NatsJSContext(nats);
            // JetStream is ready once the cluster has a metadata leader: account info answers then.
            await Eventually.WaitUntilAsync(async () =>
            {
                try
                {
                    await js.GetAccountInfoAsync();
                    return true;
                }
                catch (NatsException)
                {
                    return false;
                }
            }, TimeSpan.FromSeconds(30), "JetStream has a metadata leader");
            return harness;
        }
        catch
        {
            await harness.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts a broker node in cluster mode on these servers.</summary>
    public async Task<BrokerProcess> StartBrokerAsync(string nodeId, params string[] extraArgs)
    {
        var broker = await BrokerProcess.StartAsync(
            _temp.Combine("broker-" + nodeId),
            [$"--Iot:Cluster:Nats:Url={Url}", $"--Iot:Cluster:NodeId={nodeId}", $"--Iot:Cluster:Replicas={Math.Min(3, _servers.Count)}", .. extraArgs]);
        _brokers.Add(broker);
        return broker;
    }

    /// <summary><c>kill -9</c> of the NATS server named <paramref name="name"/>.</summary>
    public async Task KillServerAsync(string name)
    {
        var index = _servers.FindIndex(s => s.Name == name);
        var process = _servers[index].Process!;
        process.Kill();
        await process.WaitForExitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>The server that leads the stream <paramref name="stream"/>.</summary>
    public async Task<string> StreamLeaderAsync(string stream)
    {
        await using var nats = new NatsConnection(new NatsOpts { Url = Url });
        var js = new NatsJSContext(nats);
        var info = await js.GetStreamAsync(stream);
        return info.Info.Cluster?.Leader ?? throw new InvalidOperationException("the stream has no leader");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var broker in _brokers)
        {
            if (!broker.HasExited)
            {
                await broker.KillAsync();
            }

            await broker.DisposeAsync();
        }

        foreach (var server in _servers)
        {
            if (server.Process is { } process)
            {
                await process.DisposeAsync();
            }
        }

        _temp.Dispose();
    }

    private void StartServer(int i)
    {
        var (name, client, route, _) = _servers[i];
        var routes = string.Join(',', _servers.Where((_, j) => j != i).Select(s => $"nats://127.0.0.1:{s.RoutePort}"));
        string[] args =
        [
            "-a", "127.0.0.1", "-p", client.ToString(CultureInfo.InvariantCulture), "-n", name, "-js", "-sd", _temp.Combine(name),
            "--cluster_name", "iot-test", "--cluster", $"nats://127.0.0.1:{route}", "--routes", routes,
        ];
        var process = _servers.Count == 1
            ? ChildProcess.Start("nats-server", args.Take(9))
            : ChildProcess.Start("nats-server", args);
        _servers[i] = (name, client, route, process);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
