using System.Globalization;
using Iot.Simulator.CommandLine;
using Iot.Simulator.Devices;
using Iot.Simulator.Registration;
using Iot.Simulator.Reporting;
using MQTTnet;
using MQTTnet.Formatter;

namespace Iot.Simulator;

/// <summary>One run: creates the devices, starts them over the ramp-up, reports progress, ends with a summary.</summary>
internal static class SimulatorRunner
{
    /// <summary>Exit code of a run in which no device ever connected, or registration was refused.</summary>
    public const int FailedExitCode = 1;

    /// <summary>Runs until <paramref name="cancellationToken"/> (Ctrl+C, SIGTERM) or <see cref="SimulatorOptions.Duration"/>.</summary>
    public static async Task<int> RunAsync(SimulatorOptions options, TextWriter output, TextWriter error, bool inPlace, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var stats = new SimulatorStats(options.Devices);
        var reporter = new ProgressReporter(stats, output, error, inPlace, timeProvider);
        reporter.WriteLine(Header(options));

        using var run = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var duration = options.Duration > TimeSpan.Zero ? new CancellationTokenSource(options.Duration, timeProvider) : null;
        using var durationLink = duration?.Token.Register(run.Cancel);
        using var http = options.RegistersDevices ? DeviceRegistrar.CreateClient(options.ApiUrl!, options.ApiKey ?? "", options.Trust) : null;
        using var registrar = http is null ? null : new DeviceRegistrar(http, parallelism: 8);
        var factory = new MqttClientFactory();
        string? fatal = null;

        var devices = CreateProfiles(options)
            .Select(profile => new SimulatedDevice(profile, options, factory, stats, reporter, registrar, timeProvider))
            .ToList();
        var progress = reporter.RunAsync(options.ProgressInterval, run.Token);
        var running = devices.Select(async (device, index) =>
        {
            var delay = options.Devices > 1 ? options.RampUp * index / options.Devices : TimeSpan.Zero;
            try
            {
                await device.RunAsync(delay, run.Token).ConfigureAwait(false);
            }
            catch (RegistrationException ex)
            {
                // Wrong key or a refused id: every device would fail the same way.
                if (Interlocked.CompareExchange(ref fatal, ex.Message, null) is null)
                {
                    reporter.WriteLine("error: " + ex.Message, isError: true);
                }

                await run.CancelAsync().ConfigureAwait(false);
            }
        }).ToList();

        await Task.WhenAll(running).ConfigureAwait(false);
        await run.CancelAsync().ConfigureAwait(false);
        await progress.ConfigureAwait(false);
        reporter.WriteSummary(options.JsonSummary);
        if (fatal is not null)
        {
            return FailedExitCode;
        }

        if (stats.EverConnected == 0)
        {
            reporter.WriteLine($"error: no device connected to {options.Broker}.", isError: true);
            return FailedExitCode;
        }

        return 0;
    }

    /// <summary>Who each device is: kinds in turn, then seeded choices of skew and of which devices are flaky.</summary>
    internal static IReadOnlyList<DeviceProfile> CreateProfiles(SimulatorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var random = new Random(options.Seed);

        // Exactly round(N * fraction) flaky devices, picked by a seeded shuffle.
        var order = Enumerable.Range(1, options.Devices).ToArray();
        random.Shuffle(order);
        var flaky = order.Take((int)Math.Round(options.Devices * options.Flaky)).ToHashSet();
        return Enumerable.Range(1, options.Devices).Select(n => new DeviceProfile(
            options.DeviceId(n),
            options.Kinds[(n - 1) % options.Kinds.Count],
            random.Next(),
            options.Skew * ((2 * random.NextDouble()) - 1),
            flaky.Contains(n))).ToList();
    }

    private static string Header(SimulatorOptions o)
    {
        var kinds = string.Join(",", o.Kinds.Select(CommandHandler.KindName));
        var auth = o.RegistersDevices ? $"devices registered at {o.ApiUrl}" : o.Username is not null ? $"user {o.Username}" : "anonymous";
        var protocol = o.Protocol == MqttProtocolVersion.V311 ? "3.1.1" : "5";
        return string.Create(CultureInfo.InvariantCulture,
            $"iot-simulator: {o.Devices} devices ({o.DeviceId(1)}..{o.DeviceId(o.Devices)}; {kinds}) -> {o.Broker}, MQTT {protocol}, QoS {(int)o.Qos}, every {DurationParser.Format(o.Interval)}, {auth}, seed {o.Seed}; ")
            + (o.Duration > TimeSpan.Zero ? $"for {DurationParser.Format(o.Duration)}" : "Ctrl+C stops");
    }
}
