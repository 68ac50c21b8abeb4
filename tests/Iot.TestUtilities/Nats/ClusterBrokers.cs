using System.Globalization;
using System.Text;

namespace Iot.TestUtilities.Nats;

/// <summary>
/// N built brokers (<see cref="BrokerProcess"/>, real child processes) in cluster mode on one <see cref="NatsClusterFixture"/>:
/// node <c>i</c> runs with <c>--Iot:Cluster:Nats:Url={every NATS url}</c>, <c>--Iot:Cluster:NodeId=node-{i}</c>,
/// <c>--Iot:Cluster:Replicas={the cluster's replicas}</c> and its own data directory, on free ports, with anonymous
/// access (as <see cref="BrokerProcess.StartAsync(string, string[])"/>). A node can be killed (<c>kill -9</c>) and
/// restarted on the same data directory and, when they are still free, the same ports. Disposal kills every broker
/// and deletes the data directories, even after a failed test.
/// </summary>
public sealed class ClusterBrokers : IAsyncDisposable
{
    private readonly TempDirectory _dir = new("iot-cluster-brokers");
    private readonly NatsClusterFixture _nats;
    private readonly BrokerProcess?[] _nodes;
    private readonly string[][] _args;
    private readonly StringBuilder[] _previousRuns;
    private readonly Dictionary<int, (int Mqtt, int Http)> _previousPorts = [];

    private ClusterBrokers(NatsClusterFixture nats, int count)
    {
        _nats = nats;
        _nodes = new BrokerProcess?[count];
        _args = new string[count][];
        _previousRuns = Enumerable.Range(0, count).Select(_ => new StringBuilder()).ToArray();
    }

    /// <summary>How many nodes there are (running or killed).</summary>
    public int Count => _nodes.Length;

    /// <summary>
    /// Starts <paramref name="count"/> brokers at once and waits until each has bound its ports (after connecting to NATS).
    /// </summary>
    /// <param name="nats">The NATS cluster; every node gets all its urls.</param>
    /// <param name="count">How many nodes.</param>
    /// <param name="extraArgs">Arguments for node <c>i</c>, after the default ones (the last value of a setting wins).</param>
    /// <exception cref="InvalidOperationException">A node exited during start; the message holds its output.</exception>
    public static async Task<ClusterBrokers> StartAsync(NatsClusterFixture nats, int count, Func<int, IEnumerable<string>>? extraArgs = null)
    {
        ArgumentNullException.ThrowIfNull(nats);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var brokers = new ClusterBrokers(nats, count);
        try
        {
            for (var i = 0; i < count; i++)
            {
                brokers._args[i] = [.. brokers.ClusterArgs(i), .. extraArgs?.Invoke(i) ?? []];
            }

            // Node 0 first: it creates the cluster's streams and buckets, then the others start together and find them.
            // nats-server 2.9.10 answers only one of two concurrent creates of one stream; the other waits for its
            // request time-out (5 s), so brokers that all start at once on a fresh NATS cluster take about 5 s per
            // stream (docs/cluster.md, "Switching it on").
            await brokers.StartNodeAsync(0);
            await Task.WhenAll(Enumerable.Range(1, count - 1).Select(brokers.StartNodeAsync));
            return brokers;
        }
        catch
        {
            await brokers.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts <paramref name="count"/> brokers with the same extra arguments for each.</summary>
    public static Task<ClusterBrokers> StartAsync(NatsClusterFixture nats, int count, params string[] extraArgs) =>
        StartAsync(nats, count, _ => extraArgs);

    /// <summary>Node <paramref name="i"/>'s broker process (throws while it is killed).</summary>
    public BrokerProcess this[int i] => Node(i);

    /// <summary>Node <paramref name="i"/>'s id: <c>node-{i}</c>.</summary>
    public static string NodeId(int i) => "node-" + i.ToString(CultureInfo.InvariantCulture);

    /// <summary>Node <paramref name="i"/>'s MQTT (TCP) port on <see cref="BrokerFixture.Host"/>.</summary>
    public int MqttPort(int i) => Node(i).MqttPort;

    /// <summary>Node <paramref name="i"/>'s HTTP port.</summary>
    public int HttpPort(int i) => Node(i).HttpPort;

    /// <summary>Node <paramref name="i"/>'s HTTP base address (<c>http://127.0.0.1:port/</c>).</summary>
    public Uri HttpBaseAddress(int i) => new($"http://{BrokerFixture.Host}:{HttpPort(i).ToString(CultureInfo.InvariantCulture)}/");

    /// <summary>Node <paramref name="i"/>'s data directory (kept over restarts).</summary>
    public string DataDir(int i) => _dir.Combine(NodeId(i));

    /// <summary>Whether node <paramref name="i"/> runs.</summary>
    public bool IsRunning(int i) => _nodes[i] is { HasExited: false };

    /// <summary>Everything node <paramref name="i"/> printed, over all its runs.</summary>
    public string Output(int i) => _previousRuns[i] + (_nodes[i]?.Output ?? "");

    /// <summary>Every node's output and the NATS servers' last lines, for a failure message.</summary>
    public string Diagnostics()
    {
        var text = new StringBuilder();
        for (var i = 0; i < Count; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $"--- {NodeId(i)} ({(IsRunning(i) ? "running" : "stopped")}) ---\n{Output(i)}\n");
        }

        return text.Append("--- NATS ---\n").Append(_nats.Diagnostics()).ToString();
    }

    /// <summary><c>kill -9</c> of node <paramref name="i"/>: it dies at once, with no chance to flush, close or say goodbye.</summary>
    public async Task KillAsync(int i)
    {
        var node = Node(i);
        await node.KillAsync();
        await EndAsync(i);
    }

    /// <summary>SIGTERM to node <paramref name="i"/> and wait for a graceful exit; returns the exit code.</summary>
    public async Task<int> StopAsync(int i)
    {
        var code = await Node(i).StopAsync();
        await EndAsync(i);
        return code;
    }

    /// <summary>
    /// Starts node <paramref name="i"/> again (after <see cref="KillAsync"/> or <see cref="StopAsync"/>) with its data
    /// directory and arguments, on its previous ports; on new free ports if another process took them meanwhile (read
    /// <see cref="MqttPort"/> again afterwards).
    /// </summary>
    /// <param name="i">The node.</param>
    /// <param name="extraArgs">More arguments for this and later runs of the node (the last value of a setting wins).</param>
    public async Task RestartAsync(int i, params string[] extraArgs)
    {
        ArgumentNullException.ThrowIfNull(extraArgs);
        if (IsRunning(i))
        {
            throw new InvalidOperationException($"{NodeId(i)} still runs: kill or stop it first.");
        }

        _args[i] = [.. _args[i], .. extraArgs];
        await StartNodeAsync(i);
    }

    /// <summary>Kills every node that runs and deletes the data directories.</summary>
    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(_nodes.Where(n => n is not null).Select(n => n!.DisposeAsync().AsTask()));
        _dir.Dispose();
    }

    private string[] ClusterArgs(int i) =>
    [
        $"--Iot:Cluster:Nats:Url={_nats.Urls}",
        $"--Iot:Cluster:NodeId={NodeId(i)}",
        $"--Iot:Cluster:Replicas={_nats.Replicas.ToString(CultureInfo.InvariantCulture)}",
        "--Logging:Console:FormatterOptions:ColorBehavior=Disabled",
        // A failure's output tells when each step happened (elections and restarts are about timing); without a
        // formatter name the console logger ignores its formatter options.
        "--Logging:Console:FormatterName=simple",
        "--Logging:Console:FormatterOptions:TimestampFormat=HH:mm:ss.fff ",
    ];

    private async Task StartNodeAsync(int i)
    {
        if (_previousPorts.TryGetValue(i, out var ports))
        {
            try
            {
                _nodes[i] = await BrokerProcess.StartAsync(DataDir(i), [.. _args[i], $"--Iot:Mqtt:Port={ports.Mqtt}", $"--Iot:Http:Port={ports.Http}"]);
                return;
            }
            catch (InvalidOperationException ex) when (ex.Message.Contains("already in use", StringComparison.Ordinal))
            {
                // Another process took a port while the node was down: the node comes back on new ones.
                _previousRuns[i].Append(ex.Message).Append('\n');
            }
        }

        _nodes[i] = await BrokerProcess.StartAsync(DataDir(i), _args[i]);
    }

    private async Task EndAsync(int i)
    {
        if (_nodes[i] is { } node)
        {
            _nodes[i] = null;
            _previousPorts[i] = (node.MqttPort, node.HttpPort);
            _previousRuns[i].Append(node.Output).Append(CultureInfo.InvariantCulture, $"  --- (pid {node.Id} ended) ---\n");
            await node.DisposeAsync();
        }
    }

    private BrokerProcess Node(int i) =>
        i >= 0 && i < _nodes.Length
            ? _nodes[i] ?? throw new InvalidOperationException($"{NodeId(i)} is not running (killed or stopped): restart it first.")
            : throw new ArgumentOutOfRangeException(nameof(i), i, string.Create(CultureInfo.InvariantCulture, $"There are {_nodes.Length} nodes."));
}
