using Iot.Simulator.CommandLine;
using Iot.Simulator.Registration;
using Iot.Simulator.Reporting;
using MQTTnet;
using MQTTnet.Adapter;
using MQTTnet.Exceptions;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Iot.Simulator.Devices;

/// <summary>
/// One simulated device: one MQTTnet client, one async loop (no thread of its own). It connects (after its ramp-up
/// delay, registering itself first when the API is configured), subscribes to <c>devices/{id}/commands/#</c>,
/// publishes telemetry and events on a <see cref="PeriodicTimer"/>, answers commands, and reconnects with backoff
/// when the connection is lost, after a <c>reboot</c>, or when it is flaky and drops the connection on purpose.
/// </summary>
internal sealed partial class SimulatedDevice : ICommandTarget
{
    private static readonly TimeSpan InitialBackoff = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan DisconnectTimeout = TimeSpan.FromSeconds(3);

    private readonly DeviceProfile _profile;
    private readonly SimulatorOptions _options;
    private readonly MqttClientFactory _factory;
    private readonly SimulatorStats _stats;
    private readonly ProgressReporter _reporter;
    private readonly DeviceRegistrar? _registrar;
    private readonly TimeProvider _timeProvider;
    private readonly DeviceModel _model;

    // Guards the model, the behaviour random source, the interval and the timer: the telemetry loop and the
    // command handler (MQTTnet's receive task) both use them.
    private readonly object _gate = new();
    private readonly Random _behaviour;
    private TimeSpan _interval;
    private PeriodicTimer? _timer;
    private long _bootTimestamp;
    private bool _everConnected;
    private string? _password;
    private TimeSpan _backoff = InitialBackoff;

    public SimulatedDevice(
        DeviceProfile profile,
        SimulatorOptions options,
        MqttClientFactory factory,
        SimulatorStats stats,
        ProgressReporter reporter,
        DeviceRegistrar? registrar,
        TimeProvider timeProvider)
    {
        _profile = profile;
        _options = options;
        _factory = factory;
        _stats = stats;
        _reporter = reporter;
        _registrar = registrar;
        _timeProvider = timeProvider;
        _interval = options.Interval;
        _model = new DeviceModel(profile.Kind, new Random(profile.Seed), options.AlarmThreshold, options.EventsPerMinute);
        _behaviour = new Random(unchecked((profile.Seed * 31) + 7));
        _bootTimestamp = timeProvider.GetTimestamp();
    }

    /// <summary>Device id, MQTT client id and user name.</summary>
    public string Id => _profile.Id;

    /// <inheritdoc/>
    public DeviceKind Kind => _profile.Kind;

    /// <inheritdoc/>
    public TimeSpan Uptime => _timeProvider.GetElapsedTime(_bootTimestamp);

    /// <inheritdoc/>
    public TimeSpan Interval
    {
        get => _interval;
        set
        {
            _interval = value;

            // Takes effect at once, not after the old (maybe long) period.
            _timer?.Period = value;
        }
    }

    /// <inheritdoc/>
    public double TargetTemperature
    {
        get => _model.TargetTemperature;
        set => _model.TargetTemperature = value;
    }

    /// <summary>Runs the device until <paramref name="cancellationToken"/> is cancelled.</summary>
    /// <exception cref="RegistrationException">The API refused to register the device: the run should stop.</exception>
    public async Task RunAsync(TimeSpan startDelay, CancellationToken cancellationToken)
    {
        try
        {
            if (startDelay > TimeSpan.Zero)
            {
                await Task.Delay(startDelay, _timeProvider, cancellationToken).ConfigureAwait(false);
            }

            // Powered on now, not when the run started: uptime leaves out the ramp-up delay.
            lock (_gate)
            {
                _bootTimestamp = _timeProvider.GetTimestamp();
            }

            while (!cancellationToken.IsCancellationRequested)
            {
                var pause = await RunConnectionAsync(cancellationToken).ConfigureAwait(false);
                await Task.Delay(pause, _timeProvider, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The run is over.
        }
    }

    /// <summary>One connection, from connect to its end; returns how long to wait before the next one.</summary>
    private async Task<TimeSpan> RunConnectionAsync(CancellationToken cancellationToken)
    {
        MqttClientOptions clientOptions;
        try
        {
            clientOptions = await BuildClientOptionsAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            // The API is down or slow (a timeout): try again later. A refusal (RegistrationException) ends the run.
            _reporter.ReportError(Id, "registration: " + ex.Message);
            return NextBackoff();
        }

        using var client = _factory.CreateMqttClient();
        using var connection = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var session = new ConnectionSession(client, connection);
        Task OnDisconnected(MqttClientDisconnectedEventArgs e)
        {
            session.Lost();
            return Task.CompletedTask;
        }

        Task OnMessage(MqttApplicationMessageReceivedEventArgs e) => OnCommandAsync(session, e);

        client.DisconnectedAsync += OnDisconnected;
        client.ApplicationMessageReceivedAsync += OnMessage;
        var connected = false;
        try
        {
            var connack = await client.ConnectAsync(clientOptions, cancellationToken).ConfigureAwait(false);
            if (connack.ResultCode != MqttClientConnectResultCode.Success || !client.IsConnected)
            {
                _reporter.ReportError(Id, $"connect refused: {connack.ResultCode} {connack.ReasonString}".TrimEnd());
                return NextBackoff();
            }

            connected = true;
            _stats.DeviceConnected(first: !_everConnected);
            _everConnected = true;
            var subscribed = await client.SubscribeAsync(
                _factory.CreateSubscribeOptionsBuilder().WithTopicFilter($"devices/{Id}/commands/#", MqttQualityOfServiceLevel.AtLeastOnce).Build(),
                cancellationToken).ConfigureAwait(false);
            if (subscribed.Items.Any(i => (int)i.ResultCode >= 0x80))
            {
                _reporter.ReportError(Id, $"the broker refused the subscription to devices/{Id}/commands/#: {subscribed.Items.First().ResultCode}");
            }

            _backoff = InitialBackoff;
            await PublishLoopAsync(session).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException) when (session.Token.IsCancellationRequested)
        {
            // Ended by a reboot, a flaky drop or a lost connection: see below.
        }
        catch (Exception ex)
        {
            // The connection's boundary: whatever went wrong (refused, reset, timed out, a client error), count it,
            // say it, and connect again after a backoff; one device's trouble never ends the run.
            if (!session.Token.IsCancellationRequested)
            {
                _reporter.ReportError(Id, connected ? "connection lost: " + Describe(ex) : Describe(ex));
            }

            session.Lost();
        }
        finally
        {
            client.DisconnectedAsync -= OnDisconnected;
            client.ApplicationMessageReceivedAsync -= OnMessage;
            if (connected)
            {
                _stats.DeviceDisconnected();
                await EndConnectionAsync(client, session, cancellationToken.IsCancellationRequested).ConfigureAwait(false);
            }
        }

        switch (session.EndReason)
        {
            case ConnectionEnd.Reboot:
                lock (_gate)
                {
                    _bootTimestamp = _timeProvider.GetTimestamp() + (long)(session.Pause.TotalSeconds * _timeProvider.TimestampFrequency);
                }

                return session.Pause;
            case ConnectionEnd.FlakyDrop:
                return session.Pause;
            default:
                return NextBackoff();
        }
    }

    private async Task EndConnectionAsync(IMqttClient client, ConnectionSession session, bool runOver)
    {
        // A reboot and the end of the run say goodbye (DISCONNECT); a flaky drop leaves without it, as a device losing
        // power would, and a lost connection has no one left to tell.
        if (!client.IsConnected || !(runOver || session.EndReason == ConnectionEnd.Reboot))
        {
            return;
        }

        using var timeout = new CancellationTokenSource(DisconnectTimeout, _timeProvider);
        try
        {
            await client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is MqttCommunicationException or OperationCanceledException or InvalidOperationException)
        {
            if (!runOver)
            {
                _reporter.ReportError(Id, "disconnect: " + Describe(ex));
            }
        }
    }

    private async Task<MqttClientOptions> BuildClientOptionsAsync(CancellationToken cancellationToken)
    {
        var broker = _options.Broker;
        var builder = new MqttClientOptionsBuilder()
            .WithClientId(Id)
            .WithProtocolVersion(_options.Protocol)
            .WithCleanSession(true)
            .WithKeepAlivePeriod(TimeSpan.FromSeconds(30))
            .WithTimeout(TimeSpan.FromSeconds(10));
        builder = broker.IsWebSocket
            ? builder.WithWebSocketServer(o => o.WithUri(broker.WebSocketUrl))
            : builder.WithTcpServer(broker.Host, broker.Port);
        if (broker.UsesTls)
        {
            builder = builder.WithTlsOptions(tls =>
            {
                tls.UseTls().WithTargetHost(broker.Host);
                if (_options.Trust.IsCustom)
                {
                    var trust = _options.Trust;
                    tls.WithCertificateValidationHandler(c => trust.Accepts(c.Certificate, c.Chain, c.SslPolicyErrors));
                }
            });
        }

        if (_registrar is not null)
        {
            if (_password is null)
            {
                (_password, _) = await _registrar.RegisterAsync(Id, cancellationToken).ConfigureAwait(false);
                _stats.Registered();
            }

            builder = builder.WithCredentials(Id, _password);
        }
        else if (_options.Username is not null)
        {
            builder = builder.WithCredentials(_options.Username, _options.Password ?? "");
        }

        return builder.Build();
    }

    private TimeSpan NextBackoff()
    {
        lock (_gate)
        {
            // Full jitter, so that a broker restart is not followed by every device at the same instant.
            var wait = _backoff * (0.5 + (_behaviour.NextDouble() / 2));
            _backoff = TimeSpan.FromTicks(Math.Min(_backoff.Ticks * 2, MaxBackoff.Ticks));
            return wait;
        }
    }

    private static string Describe(Exception ex) => ex is MqttConnectingFailedException ? "connect refused: " + ex.Message : ex.Message;

    private bool IsVersion5 => _options.Protocol == MqttProtocolVersion.V500;
}
