using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;
using Iot.Simulator.Devices;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Iot.Simulator.CommandLine;

/// <summary>The <c>iot-simulator</c> command line: every option, its default, and the checks on its value.</summary>
internal static class SimulatorCommand
{
    private const string DefaultBroker = "mqtt://localhost:1883";

    /// <summary>The root command; its action runs the simulation.</summary>
    public static RootCommand Create(Func<SimulatorOptions, CancellationToken, Task<int>> run)
    {
        var o = new Definitions();
        var root = new RootCommand(
            "Runs simulated IoT devices against an Iot broker: telemetry on devices/{id}/telemetry, events on " +
            "devices/{id}/events/{type}, and answers to commands (ping, setInterval, setTarget, reboot).");
        foreach (var option in o.All)
        {
            root.Options.Add(option);
        }

        root.Validators.Add(result =>
        {
            if (result.GetValue(o.Password) is not null && result.GetValue(o.Username) is null)
            {
                result.AddError("--password needs --username.");
            }

            if (result.GetValue(o.ApiKey) is not null && result.GetValue(o.Username) is not null)
            {
                result.AddError("Use either --api-key (each device registered with its own password) or --username/--password (one shared credential), not both.");
            }

            if (result.GetValue(o.Insecure) && result.GetResult(o.CaFile) is not null)
            {
                result.AddError("Use either --ca-file (trust these CAs) or --insecure (trust any certificate), not both.");
            }
        });
        root.SetAction((parseResult, cancellationToken) => run(o.Bind(parseResult), cancellationToken));
        return root;
    }

    /// <summary>Parses <paramref name="args"/> without running anything: the options, or the errors.</summary>
    public static (SimulatorOptions? Options, IReadOnlyList<string> Errors) Parse(params string[] args)
    {
        SimulatorOptions? parsed = null;
        var result = Create((options, _) =>
        {
            parsed = options;
            return Task.FromResult(0);
        }).Parse(args);
        if (result.Errors.Count > 0)
        {
            return (null, result.Errors.Select(e => e.Message).ToList());
        }

        result.Invoke();
        return (parsed, []);
    }

    private sealed class Definitions
    {
        public readonly Option<BrokerAddress> Broker = new("--broker", "-b")
        {
            Description = "Broker URL: mqtt://host:1883, mqtts://host:8883 (TLS), ws://host:8080/mqtt or wss://host/mqtt.",
            HelpName = "url",
            DefaultValueFactory = _ => ParseBroker(DefaultBroker),
            CustomParser = r =>
            {
                if (BrokerAddress.TryParse(r.Tokens.Single().Value, out var address, out var error))
                {
                    return address;
                }

                r.AddError(error!);
                return null;
            },
        };

        public readonly Option<int> Devices = Number("--devices", "How many devices to run (1-100000).", 10, 1, 100_000, "-n");

        public readonly Option<string> Prefix = new("--prefix")
        {
            Description = "Device ids are {prefix}{number:D4}: sim-0001, sim-0002...",
            DefaultValueFactory = _ => "sim-",
        };

        public readonly Option<IReadOnlyList<DeviceKind>> Kinds = new("--kinds")
        {
            Description = "Device kinds assigned in turn, comma-separated: thermostat, environment, door (repeat one to weight it: thermostat,thermostat,door).",
            HelpName = "list",
            DefaultValueFactory = _ => [DeviceKind.Thermostat, DeviceKind.Environment, DeviceKind.Door],
            CustomParser = ParseKinds,
        };

        public readonly Option<string> Protocol = new("--protocol")
        {
            Description = "MQTT protocol version: 5 or 3.1.1.",
            DefaultValueFactory = _ => "5",
        };

        public readonly Option<int> Qos = new("--qos")
        {
            Description = "QoS of telemetry and events: 0, 1 or 2 (answers to commands always use 1).",
            DefaultValueFactory = _ => 1,
        };

        public readonly Option<TimeSpan> Interval = Duration("--interval", "Telemetry interval per device (e.g. 1s, 250ms; a bare number is milliseconds).",
            TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(1), CommandHandler.MinInterval);

        public readonly Option<TimeSpan> RampUp = Duration("--ramp-up", "Spread the connects evenly over this time (e.g. 30s; a bare number is seconds).",
            TimeSpan.Zero, TimeSpan.FromSeconds(1), TimeSpan.Zero);

        public readonly Option<TimeSpan> RunDuration = Duration("--duration", "Stop after this time (e.g. 30s, 5m; a bare number is seconds); 0 runs until Ctrl+C.",
            TimeSpan.Zero, TimeSpan.FromSeconds(1), TimeSpan.Zero);

        public readonly Option<TimeSpan> Skew = Duration("--skew", "Each device's clock is off by a fixed random amount up to this, either way (e.g. 2s); shifts its ts.",
            TimeSpan.Zero, TimeSpan.FromSeconds(1), TimeSpan.Zero);

        public readonly Option<double> OutOfOrder = Fraction("--out-of-order", "Fraction (0-1) of telemetry messages held back and sent after the next one, with their older ts.");

        public readonly Option<double> Flaky = Fraction("--flaky", "Fraction (0-1) of devices that misbehave: drop 10% of their telemetry, answer 30% of commands 0.5-3 s late, drop their connection now and then.");

        public readonly Option<TimeSpan> FlakyDisconnect = Duration("--flaky-disconnect", "Mean time between connection drops of a flaky device (e.g. 30s; a bare number is seconds); 0 never drops.",
            TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(1), TimeSpan.Zero);

        public readonly Option<double> Events = Number("--events", "Door openings per door sensor per minute (each followed by doorClosed 2-30 s later), 0-600.", 1.0, 0, 600, helpName: "per-minute");

        public readonly Option<double> AlarmThreshold = Number("--alarm-threshold", "Temperature (°C) above which a device raises temperatureAlarm (and clears it 0.5 °C below).", 28.0, -100, 200, helpName: "celsius");

        public readonly Option<int?> Seed = new("--seed")
        {
            Description = "Seed of every random choice (signals, kinds of misbehaviour); printed at start. Default: a new one each run.",
        };

        public readonly Option<string?> Username = new("--username", "-u")
        {
            Description = "MQTT user name shared by every device (with --password); default anonymous.",
        };

        public readonly Option<string?> Password = new("--password", "-P")
        {
            Description = "MQTT password for --username.",
        };

        public readonly Option<Uri?> ApiUrl = new("--api-url")
        {
            Description = "Broker HTTP API (e.g. http://localhost:8080): register every device with POST /api/devices and connect with its own password. Default with --api-key: http://{broker host}:8080, or the ws:// URL's host and port.",
            HelpName = "url",
            CustomParser = r =>
            {
                var text = r.Tokens.Single().Value;
                if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps))
                {
                    return uri;
                }

                r.AddError($"--api-url '{text}' is not an http:// or https:// URL.");
                return null;
            },
        };

        public readonly Option<string?> ApiKey = new("--api-key")
        {
            Description = "API key of a service identity, sent as X-Api-Key when registering devices.",
        };

        public readonly Option<bool> Insecure = new("--insecure")
        {
            Description = "Accept any TLS certificate (self-signed development certificates) on mqtts://, wss:// and an https:// --api-url.",
        };

        public readonly Option<ServerTrust?> CaFile = new("--ca-file")
        {
            Description = "Trust the broker's TLS certificate (mqtts://, wss://, an https:// --api-url) only if it chains to a CA in this PEM (or DER) file; the host name is still checked.",
            HelpName = "path",
            CustomParser = r =>
            {
                if (ServerTrust.TryLoad(r.Tokens.Single().Value, out var trust, out var error))
                {
                    return trust;
                }

                r.AddError(error!);
                return null;
            },
        };

        public readonly Option<TimeSpan> ProgressInterval = Duration("--progress-interval", "How often the status line is printed (a bare number is seconds).",
            TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(100));

        public readonly Option<bool> JsonSummary = new("--json-summary")
        {
            Description = "Also print the final summary as one JSON line (for scripts).",
        };

        public Definitions()
        {
            Protocol.AcceptOnlyFromAmong("5", "5.0", "3.1.1", "311");
            Qos.AcceptOnlyFromAmong("0", "1", "2");
            Prefix.Validators.Add(r =>
            {
                var prefix = r.GetValueOrDefault<string>() ?? "";
                if (prefix.Length > 100 || prefix.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or ':' or '-')))
                {
                    r.AddError($"--prefix '{prefix}' must be at most 100 of A-Z a-z 0-9 . _ : - (device ids are MQTT client ids and topic levels).");
                }
            });
        }

        public IEnumerable<Option> All =>
        [
            Broker, Devices, Prefix, Kinds, Protocol, Qos, Interval, RampUp, RunDuration, Skew, OutOfOrder, Flaky, FlakyDisconnect,
            Events, AlarmThreshold, Seed, Username, Password, ApiUrl, ApiKey, Insecure, CaFile, ProgressInterval, JsonSummary,
        ];

        public SimulatorOptions Bind(ParseResult r)
        {
            var broker = r.GetValue(Broker)!;
            var apiKey = r.GetValue(ApiKey);
            var apiUrl = r.GetValue(ApiUrl) ?? (apiKey is null ? null : DefaultApiUrl(broker));
            return new SimulatorOptions
            {
                Broker = broker,
                Devices = r.GetValue(Devices),
                Prefix = r.GetValue(Prefix)!,
                Kinds = r.GetValue(Kinds)!,
                Protocol = r.GetValue(Protocol) is "3.1.1" or "311" ? MqttProtocolVersion.V311 : MqttProtocolVersion.V500,
                Qos = (MqttQualityOfServiceLevel)r.GetValue(Qos),
                Interval = r.GetValue(Interval),
                RampUp = r.GetValue(RampUp),
                Duration = r.GetValue(RunDuration),
                Skew = r.GetValue(Skew),
                OutOfOrder = r.GetValue(OutOfOrder),
                Flaky = r.GetValue(Flaky),
                FlakyDisconnect = r.GetValue(FlakyDisconnect),
                EventsPerMinute = r.GetValue(Events),
                AlarmThreshold = r.GetValue(AlarmThreshold),
                Seed = r.GetValue(Seed) ?? Random.Shared.Next(1, 1_000_000),
                Username = r.GetValue(Username),
                Password = r.GetValue(Password),
                ApiUrl = apiUrl,
                ApiKey = apiKey,
                Trust = r.GetValue(CaFile) ?? (r.GetValue(Insecure) ? ServerTrust.Any : ServerTrust.System),
                ProgressInterval = r.GetValue(ProgressInterval),
                JsonSummary = r.GetValue(JsonSummary),
            };
        }

        private static Uri DefaultApiUrl(BrokerAddress broker) => broker.IsWebSocket
            ? new Uri($"{(broker.UsesTls ? "https" : "http")}://{broker.WebSocketUrl[(broker.WebSocketUrl.IndexOf("://", StringComparison.Ordinal) + 3)..].Split('/')[0]}/")
            : new Uri($"http://{(broker.Host.Contains(':', StringComparison.Ordinal) ? $"[{broker.Host}]" : broker.Host)}:8080/");

        private static BrokerAddress ParseBroker(string text) =>
            BrokerAddress.TryParse(text, out var address, out var error) ? address! : throw new InvalidOperationException(error);

        private static List<DeviceKind> ParseKinds(ArgumentResult r)
        {
            var kinds = new List<DeviceKind>();
            foreach (var name in r.Tokens.SelectMany(t => t.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
            {
                DeviceKind? kind = name.ToUpperInvariant() switch
                {
                    "THERMOSTAT" => DeviceKind.Thermostat,
                    "ENVIRONMENT" or "ENV" or "ENVIRONMENT-SENSOR" => DeviceKind.Environment,
                    "DOOR" or "DOOR-SENSOR" => DeviceKind.Door,
                    _ => null,
                };
                if (kind is null)
                {
                    r.AddError($"--kinds: '{name}' is not a device kind; use thermostat, environment or door.");
                    return [];
                }

                kinds.Add(kind.Value);
            }

            if (kinds.Count == 0)
            {
                r.AddError("--kinds needs at least one of thermostat, environment, door.");
            }

            return kinds;
        }

        private static Option<TimeSpan> Duration(string name, string description, TimeSpan defaultValue, TimeSpan bareUnit, TimeSpan minimum) => new(name)
        {
            Description = description,
            HelpName = "duration",
            DefaultValueFactory = _ => defaultValue,
            CustomParser = r =>
            {
                var text = r.Tokens.Single().Value;
                if (!DurationParser.TryParse(text, bareUnit, out var value))
                {
                    r.AddError($"{name} '{text}' is not a duration; use e.g. 250ms, 1.5s, 5m, 1h or 00:01:30.");
                    return defaultValue;
                }

                if (value < minimum)
                {
                    r.AddError($"{name} must be at least {DurationParser.Format(minimum)}, not {text}.");
                }

                return value;
            },
        };

        private static Option<double> Fraction(string name, string description) =>
            Number(name, description, 0.0, 0, 1, helpName: "fraction");

        private static Option<T> Number<T>(string name, string description, T defaultValue, T min, T max, string? alias = null, string? helpName = null)
            where T : struct, INumber<T>
        {
            var option = alias is null ? new Option<T>(name) : new Option<T>(name, alias);
            option.Description = description;
            option.HelpName = helpName;
            option.DefaultValueFactory = _ => defaultValue;
            option.CustomParser = r =>
            {
                var text = r.Tokens.Single().Value;
                if (!T.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || T.IsNaN(value))
                {
                    r.AddError($"{name} '{text}' is not a number.");
                    return defaultValue;
                }

                if (value < min || value > max)
                {
                    r.AddError(string.Create(CultureInfo.InvariantCulture, $"{name} must be between {min} and {max}, not {text}."));
                }

                return value;
            };
            return option;
        }
    }
}
