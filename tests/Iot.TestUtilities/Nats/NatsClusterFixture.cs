using System.Globalization;
using System.Text.Json;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using Xunit;

namespace Iot.TestUtilities.Nats;

/// <summary>
/// A real NATS cluster for cluster-mode tests: three (or <c>servers</c>) <c>nats-server</c> processes (Debian's 2.9.10,
/// installed by scripts/test.sh) on free loopback ports, each with JetStream and its store in a temp directory, routed
/// to each other. Ready when JetStream is usable cluster-wide (a metadata leader, and a probe stream with one replica
/// per server can be created). A server can be killed (<c>kill -9</c>) and restarted on the same ports and store, and
/// the leader of a stream found. Disposal kills every server and deletes the directory, even after a failed test.
/// </summary>
/// <remarks>
/// Server <c>i</c> is named <c>n{i}</c> (its <c>server_name</c>, which JetStream reports as a leader). Use it as an
/// xunit class fixture (three servers) or start one with <see cref="StartAsync"/> and <c>await using</c>.
/// </remarks>
#pragma warning disable CA1001 // The directory is disposed in DisposeAsync (IAsyncLifetime and IAsyncDisposable).
public sealed class NatsClusterFixture : IAsyncLifetime, IAsyncDisposable
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan LeaderTimeout = TimeSpan.FromSeconds(30);
    private readonly TempDirectory _dir = new("iot-nats");
    private readonly int _serverCount;
    private readonly string _probe = "IOT_TEST_PROBE_" + Guid.NewGuid().ToString("N")[..8].ToUpperInvariant();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private NatsServerProcess[] _servers = [];

    /// <summary>Three servers, started by <see cref="InitializeAsync"/> (xunit does that for a class or collection fixture).</summary>
    public NatsClusterFixture()
        : this(3)
    {
    }

    private NatsClusterFixture(int servers)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(servers, 1);
        _serverCount = servers;
    }

    /// <summary>How many servers the cluster has (running or killed).</summary>
    public int ServerCount => _serverCount;

    /// <summary>The replica count for streams and buckets in this cluster: 3, or the server count when smaller.</summary>
    public int Replicas => Math.Min(3, _serverCount);

    /// <summary>Every server's client URL, comma separated (the value for <c>Iot:Cluster:Nats:Url</c>).</summary>
    public string Urls => string.Join(",", _servers.Select(s => s.Url));

    /// <summary>Starts a cluster of <paramref name="servers"/> servers (1 gives a single server without a cluster block).</summary>
    public static async Task<NatsClusterFixture> StartAsync(int servers = 3)
    {
        var fixture = new NatsClusterFixture(servers);
        try
        {
            await fixture.InitializeAsync();
            return fixture;
        }
        catch
        {
            await fixture.DisposeAsync();
            throw;
        }
    }

    /// <summary>Server <paramref name="i"/>'s client URL (<c>nats://127.0.0.1:port</c>).</summary>
    public string Url(int i) => Server(i).Url;

    /// <summary>Server <paramref name="i"/>'s monitoring base address (<c>/varz</c>, <c>/jsz</c>, <c>/routez</c>).</summary>
    public Uri MonitorUri(int i) => Server(i).MonitorUri;

    /// <summary>Server <paramref name="i"/>'s <c>server_name</c>: <c>n{i}</c>.</summary>
    public string ServerName(int i) => Server(i).Name;

    /// <summary>Whether server <paramref name="i"/> runs (false after <see cref="KillAsync"/> until <see cref="RestartAsync"/>).</summary>
    public bool IsRunning(int i) => Server(i).IsRunning;

    /// <summary>Everything server <paramref name="i"/> printed, over all its runs.</summary>
    public string Output(int i) => Server(i).Output;

    /// <summary>The last lines of every server's output, for a failure message.</summary>
    public string Diagnostics() =>
        string.Join("\n", _servers.Select(s => $"{s.Name} ({(s.IsRunning ? "running" : "stopped")}): {s.LastLines(10)}"));

    /// <summary>Starts the servers on free ports (new ports when one was taken meanwhile) and waits until JetStream is usable.</summary>
    public async Task InitializeAsync()
    {
        for (var attempt = 1; ; attempt++)
        {
            var ports = FreePorts.Pick(3 * _serverCount);
            _servers = Enumerable.Range(0, _serverCount)
                .Select(i => new NatsServerProcess(i, _dir.Combine($"n{i}-{attempt}"), ports[3 * i], ports[(3 * i) + 1], ports[(3 * i) + 2]))
                .ToArray();
            var routes = _servers.Select(s => s.ClusterPort).ToArray();
            try
            {
                foreach (var server in _servers)
                {
                    await server.WriteConfigAsync(routes);
                }

                await Task.WhenAll(_servers.Select(s => s.StartAsync(_serverCount > 1)));
                break;
            }
            catch (NatsPortInUseException) when (attempt < 3)
            {
                await StopAllAsync();
            }
        }

        await WaitForJetStreamAsync();
    }

    /// <summary><c>kill -9</c> of server <paramref name="i"/>; returns once it is gone.</summary>
    public Task KillAsync(int i) => Server(i).KillAsync();

    /// <summary>Starts server <paramref name="i"/> again on its ports and JetStream store, and waits until JetStream is usable.</summary>
    public async Task RestartAsync(int i)
    {
        await Server(i).StartAsync(_serverCount > 1);
        await WaitForJetStreamAsync();
    }

    /// <summary>
    /// Waits until every running server answers JetStream requests (<c>$JS.API.INFO</c>) and knows the metadata leader,
    /// and, when every server runs, a probe stream with one replica per server can be created and deleted (so all are
    /// current peers).
    /// </summary>
    /// <exception cref="TimeoutException">Not within <paramref name="timeout"/> (default 90 s); the message holds each server's last lines.</exception>
    public async Task WaitForJetStreamAsync(TimeSpan? timeout = null)
    {
        var limit = timeout ?? ReadyTimeout;
        var last = "";
        var probes = 0;
        try
        {
            await Eventually.WaitUntilAsync(async () =>
            {
                var running = _servers.Where(s => s.IsRunning).ToArray();
                foreach (var server in running)
                {
                    if (await MetaLeaderNameAsync(server) is null)
                    {
                        last = $"{server.Name} knows no JetStream metadata leader";
                        return false;
                    }

                    await using var connection = Connect(server.Url);
                    try
                    {
                        await new NatsJSContext(connection).GetAccountInfoAsync();
                    }
                    catch (Exception ex) when (IsTransient(ex))
                    {
                        last = $"{server.Name} did not answer $JS.API.INFO: {ex.Message}";
                        return false;
                    }
                }

                if (running.Length < _servers.Length)
                {
                    // With a server down a new stream may be placed on it (the metadata leader notices it is gone
                    // only later) and never get a leader: the probe needs every server.
                    return true;
                }

                await using var all = Connect(string.Join(",", running.Select(s => s.Url)));
                var js = new NatsJSContext(all);
                var probe = $"{_probe}_{++probes}";
                try
                {
                    await js.CreateStreamAsync(new StreamConfig(probe, [$"iot-test-probe.{probe}"]) { NumReplicas = running.Length, Storage = StreamConfigStorage.Memory });
                    await js.DeleteStreamAsync(probe);
                }
                catch (Exception ex) when (IsTransient(ex))
                {
                    last = $"probe stream {probe} R{running.Length}: {ex.Message}";
                    return false;
                }

                // Probes of attempts that failed may have been created later: gone before the tests look at streams.
                for (var i = 1; i < probes; i++)
                {
                    try
                    {
                        await js.DeleteStreamAsync($"{_probe}_{i}");
                    }
                    catch (Exception ex) when (IsTransient(ex))
                    {
                        // Never created, or already gone.
                    }
                }

                return true;
            }, limit, "JetStream usable on every running server");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message}; last: {last}\n{Diagnostics()}", ex);
        }
    }

    /// <summary>
    /// The index of the server that leads stream <paramref name="stream"/> (from <c>$JS.API.STREAM.INFO</c>), waiting
    /// while it has no leader (during an election).
    /// </summary>
    /// <exception cref="TimeoutException">No running leader within 30 s.</exception>
    public async Task<int> StreamLeaderAsync(string stream)
    {
        ArgumentException.ThrowIfNullOrEmpty(stream);
        var leader = -1;
        string last = "";
        try
        {
            await Eventually.WaitUntilAsync(async () =>
            {
                await using var connection = Connect(RunningUrls());
                try
                {
                    var info = await new NatsJSContext(connection).GetStreamAsync(stream);
                    // A single server (no cluster block) reports no cluster: it leads everything.
                    last = info.Info.Cluster?.Leader ?? "(none)";
                    leader = _serverCount == 1 ? 0 : IndexOf(info.Info.Cluster?.Leader);
                }
                catch (Exception ex) when (IsTransient(ex))
                {
                    last = ex.Message;
                    return false;
                }

                return leader >= 0 && _servers[leader].IsRunning;
            }, LeaderTimeout, $"stream {stream} has a leader");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message}; last: {last}\n{Diagnostics()}", ex);
        }

        return leader;
    }

    /// <summary>The index of the JetStream metadata leader (from the running servers' <c>/jsz</c>), waiting while there is none.</summary>
    /// <exception cref="TimeoutException">No running servers agree on a leader within 30 s.</exception>
    public async Task<int> MetaLeaderAsync()
    {
        var leader = -1;
        await Eventually.WaitUntilAsync(async () =>
        {
            var names = new List<string?>();
            foreach (var server in _servers.Where(s => s.IsRunning))
            {
                names.Add(await MetaLeaderNameAsync(server));
            }

            leader = names.Distinct().Count() == 1 ? IndexOf(names[0]) : -1;
            return leader >= 0 && _servers[leader].IsRunning;
        }, LeaderTimeout, "the running NATS servers agree on a running JetStream metadata leader");
        return leader;
    }

    /// <summary>
    /// A new connection (not yet connected; the caller disposes it) to server <paramref name="server"/>, or to every
    /// running server when null.
    /// </summary>
    public NatsConnection CreateConnection(int? server = null) => Connect(server is { } i ? Url(i) : RunningUrls());

    /// <summary>Kills every server and deletes their directory.</summary>
    public async Task DisposeAsync()
    {
        await StopAllAsync();
        _http.Dispose();
        _dir.Dispose();
    }

    async ValueTask IAsyncDisposable.DisposeAsync() => await DisposeAsync();

    private static bool IsTransient(Exception ex) =>
        ex is NatsException or NatsJSException or TimeoutException or OperationCanceledException or HttpRequestException or JsonException;

    private static NatsConnection Connect(string urls) => new(NatsOpts.Default with
    {
        Url = urls,
        Name = "iot-test-fixture",
        ConnectTimeout = TimeSpan.FromSeconds(5),
        RequestTimeout = TimeSpan.FromSeconds(5),
        CommandTimeout = TimeSpan.FromSeconds(5),
    });

    private string RunningUrls()
    {
        var running = _servers.Where(s => s.IsRunning).Select(s => s.Url).ToArray();
        return running.Length > 0 ? string.Join(",", running) : throw new InvalidOperationException("No NATS server runs.");
    }

    private int IndexOf(string? name) => Array.FindIndex(_servers, s => s.Name == name);

    private NatsServerProcess Server(int i) =>
        i >= 0 && i < _servers.Length
            ? _servers[i]
            : throw new ArgumentOutOfRangeException(nameof(i), i, string.Create(CultureInfo.InvariantCulture, $"The cluster has {_servers.Length} servers."));

    private async Task<string?> MetaLeaderNameAsync(NatsServerProcess server)
    {
        if (_serverCount == 1)
        {
            return server.Name;
        }

        try
        {
            using var document = JsonDocument.Parse(await _http.GetStringAsync(new Uri(server.MonitorUri, "jsz")));
            return document.RootElement.TryGetProperty("meta_cluster", out var meta)
                && meta.TryGetProperty("leader", out var leader)
                && leader.GetString() is { Length: > 0 } name
                ? name
                : null;
        }
        catch (Exception ex) when (IsTransient(ex))
        {
            return null;
        }
    }

    private async Task StopAllAsync()
    {
        foreach (var server in _servers)
        {
            await server.DisposeAsync();
        }
    }
}

#pragma warning restore CA1001
