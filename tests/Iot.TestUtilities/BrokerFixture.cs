using Iot.Broker.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;
using MQTTnet.Formatter;
using Xunit;

namespace Iot.TestUtilities;

/// <summary>
/// One in-process broker on free ports (MQTT, HTTP) with anonymous access and its own temporary data directory.
/// Use it as an xunit collection fixture (one broker per collection), or start another one with
/// <see cref="StartAsync(string[])"/> when a test needs different settings.
/// </summary>
public class BrokerFixture : IAsyncLifetime, IAsyncDisposable
{
    private readonly string[] _extraArgs;
    private Action<WebApplicationBuilder>? _configure;
    private readonly TempDirectory _dataDir = new("iot-broker");
    private WebApplication? _app;
    private BrokerEndpoints? _endpoints;

    /// <summary>A broker with the default test settings (xunit creates fixtures through this constructor).</summary>
    public BrokerFixture()
        : this([])
    {
    }

    /// <summary>A broker with extra command-line settings, for example <c>--Iot:Mqtt:MaxQueuedMessages=10</c>.</summary>
    protected BrokerFixture(IEnumerable<string> extraArgs)
    {
        ArgumentNullException.ThrowIfNull(extraArgs);
        _extraArgs = extraArgs.ToArray();
    }

    /// <summary>The host, for clients: the loopback address.</summary>
    public static string Host => "127.0.0.1";

    /// <summary>The running application (its services, for white-box checks).</summary>
    public WebApplication App => _app ?? throw NotStarted();

    /// <summary>The broker's data directory, deleted on dispose.</summary>
    public string DataDir => _dataDir.Path;

    /// <summary>MQTT over TCP.</summary>
    public int MqttPort => Endpoints.MqttPort ?? throw new InvalidOperationException("The broker has no MQTT TCP listener.");

    /// <summary>MQTT over TLS; null unless a certificate was configured.</summary>
    public int? MqttTlsPort => Endpoints.MqttTlsPort;

    /// <summary>HTTP: API, <c>/mqtt</c> WebSocket, <c>/healthz</c>, <c>/metrics</c>.</summary>
    public int HttpPort => Endpoints.HttpPort;

    /// <summary>HTTPS: the HTTP endpoints over TLS, <c>/mqtt</c> as <c>wss://</c>; null unless <c>Iot:Http:TlsCertificatePath</c> was set.</summary>
    public int? HttpsPort => Endpoints.HttpsPort;

    /// <summary><c>https://127.0.0.1:{HttpsPort}/</c> (<see cref="TestCertificates"/> name 127.0.0.1 and localhost).</summary>
    public Uri HttpsBaseUri => new($"https://{Host}:{RequireHttpsPort()}/");

    /// <summary><c>wss://127.0.0.1:{HttpsPort}/mqtt</c>: MQTT over secure WebSocket.</summary>
    public Uri SecureWebSocketUri => new($"wss://{Host}:{RequireHttpsPort()}/mqtt");

    /// <summary><c>http://127.0.0.1:{HttpPort}/</c>.</summary>
    public Uri HttpBaseUri => new($"http://{Host}:{HttpPort}/");

    /// <summary><c>ws://127.0.0.1:{HttpPort}/mqtt</c>: MQTT over WebSocket (sub-protocol <c>mqtt</c>).</summary>
    public Uri WebSocketUri => new($"ws://{Host}:{HttpPort}/mqtt");

    /// <summary><c>mqtt://127.0.0.1:{MqttPort}</c>.</summary>
    public Uri MqttUri => new($"mqtt://{Host}:{MqttPort}");

    private BrokerEndpoints Endpoints => _endpoints ?? throw NotStarted();

    /// <summary>Starts a separate broker with extra settings; dispose it (<c>await using</c>) at the end of the test.</summary>
    public static async Task<BrokerFixture> StartAsync(params string[] extraArgs)
    {
        var fixture = new BrokerFixture(extraArgs);
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

    /// <summary>
    /// Starts a separate broker with extra settings and <paramref name="configure"/> applied to its builder after the
    /// broker's own services (to decorate one of them, for instance a store that a test slows down).
    /// </summary>
    public static async Task<BrokerFixture> StartAsync(Action<WebApplicationBuilder> configure, params string[] extraArgs)
    {
        ArgumentNullException.ThrowIfNull(configure);
        var fixture = new BrokerFixture(extraArgs) { _configure = configure };
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

    /// <summary>Options for an MQTTnet client of this broker over TCP (clean start, 30 s keep-alive).</summary>
    public MqttClientOptions CreateMqttClientOptions(string clientId, MqttProtocolVersion protocolVersion = MqttProtocolVersion.V500) =>
        CreateMqttClientOptionsBuilder(clientId, protocolVersion).Build();

    /// <summary>A builder preset for this broker over TCP, to add settings such as a will or a session expiry.</summary>
    public MqttClientOptionsBuilder CreateMqttClientOptionsBuilder(string clientId, MqttProtocolVersion protocolVersion = MqttProtocolVersion.V500) =>
        new MqttClientOptionsBuilder()
            .WithTcpServer(Host, MqttPort)
            .WithClientId(clientId)
            .WithProtocolVersion(protocolVersion)
            .WithKeepAlivePeriod(TimeSpan.FromSeconds(30))
            .WithTimeout(TimeSpan.FromSeconds(10));

    /// <inheritdoc/>
    public async Task InitializeAsync()
    {
        string[] args =
        [
            "--Iot:Mqtt:Port=0",
            "--Iot:Http:Port=0",
            $"--Iot:DataDir={_dataDir.Path}",
            "--Iot:Security:AllowAnonymous=true",
            "--Logging:LogLevel:Default=Warning",
            // Two full collections per broker would stall every test running in this process; BrokerProcess keeps it.
            "--Iot:Mqtt:CompactHeapAtStart=false",
            .. _extraArgs,
        ];
        _app = BrokerHost.Create(args, _configure);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _app.StartAsync(timeout.Token);
        var endpoints = _app.Services.GetRequiredService<BrokerEndpoints>();
        await endpoints.Bound.WaitAsync(timeout.Token);
        _endpoints = endpoints;
    }

    /// <summary>Stops the broker and deletes its data directory (xunit calls this for fixtures).</summary>
    public Task DisposeAsync() => StopAsync();

    /// <summary>Stops the broker and deletes its data directory (for <c>await using</c>).</summary>
    async ValueTask IAsyncDisposable.DisposeAsync()
    {
        await StopAsync();
        GC.SuppressFinalize(this);
    }

    private async Task StopAsync()
    {
        if (_app is not null)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try
            {
                await _app.StopAsync(timeout.Token);
            }
            finally
            {
                await _app.DisposeAsync();
                _app = null;
            }
        }

        _dataDir.Dispose();
    }

    private int RequireHttpsPort() =>
        HttpsPort ?? throw new InvalidOperationException("The broker has no HTTPS listener (set --Iot:Http:TlsCertificatePath).");

    private static InvalidOperationException NotStarted() => new("The broker fixture has not been started (InitializeAsync).");
}
