using System.Text.Json;

namespace Iot.Simulator.Devices;

/// <summary>The answer to one command, and whether the device must reboot after sending it.</summary>
/// <param name="Answer">JSON, with <c>"status":"ok"</c> or <c>"status":"failed"</c> (which the broker records as Failed).</param>
/// <param name="Succeeded">False for unknown commands and bad payloads.</param>
/// <param name="RebootPause">Set for <c>reboot</c>: disconnect after answering and reconnect after this pause.</param>
internal sealed record CommandOutcome(byte[] Answer, bool Succeeded, TimeSpan? RebootPause = null);

/// <summary>
/// What a simulated device does with a command: <c>ping</c>, <c>setInterval</c> <c>{"intervalMs":N}</c>,
/// <c>setTarget</c> <c>{"temperature":x}</c>, <c>reboot</c> <c>{"delayMs":N}</c>. Anything else, and any payload that
/// is not a JSON object, gets a failed answer; nothing throws.
/// </summary>
internal static class CommandHandler
{
    /// <summary>Shortest telemetry interval <c>setInterval</c> accepts.</summary>
    public static readonly TimeSpan MinInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>Longest telemetry interval <c>setInterval</c> accepts.</summary>
    public static readonly TimeSpan MaxInterval = TimeSpan.FromHours(1);

    /// <summary>Pause of a <c>reboot</c> without <c>delayMs</c>.</summary>
    public static readonly TimeSpan DefaultRebootPause = TimeSpan.FromSeconds(2);

    /// <summary>Longest pause <c>reboot</c> accepts.</summary>
    public static readonly TimeSpan MaxRebootPause = TimeSpan.FromMinutes(1);

    /// <summary>The commands a simulated device knows.</summary>
    public static readonly IReadOnlyList<string> Known = ["ping", "setInterval", "setTarget", "reboot"];

    private const double MinTarget = -40;
    private const double MaxTarget = 60;

    /// <summary>Runs command <paramref name="name"/> with <paramref name="payload"/> against <paramref name="device"/>.</summary>
    public static CommandOutcome Handle(string name, ReadOnlyMemory<byte> payload, ICommandTarget device)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(device);
        JsonDocument? document = null;
        try
        {
            if (!payload.IsEmpty)
            {
                document = JsonDocument.Parse(payload);
            }
        }
        catch (JsonException ex)
        {
            return Failed($"the payload of '{name}' is not valid JSON: {ex.Message}");
        }

        using (document)
        {
            var body = document?.RootElement;
            if (body is { ValueKind: not JsonValueKind.Object })
            {
                return Failed($"the payload of '{name}' must be a JSON object");
            }

            return name switch
            {
                _ when Is(name, "ping") => Ping(device),
                _ when Is(name, "setInterval") => SetInterval(body, device),
                _ when Is(name, "setTarget") => SetTarget(body, device),
                _ when Is(name, "reboot") => Reboot(body),
                _ => Failed($"unknown command '{name}'; known: {string.Join(", ", Known)}"),
            };
        }
    }

    /// <summary>A failed answer: <c>{"status":"failed","error":"..."}</c>.</summary>
    public static CommandOutcome Failed(string error) =>
        new(DevicePayloads.Write(w =>
        {
            w.WriteString("status", "failed");
            w.WriteString("error", error);
        }), Succeeded: false);

    private static bool Is(string name, string known) => name.Equals(known, StringComparison.OrdinalIgnoreCase);

    private static CommandOutcome Ping(ICommandTarget device) =>
        new(DevicePayloads.Write(w =>
        {
            w.WriteString("status", "ok");
            w.WriteBoolean("pong", true);
            w.WriteNumber("uptimeMs", (long)device.Uptime.TotalMilliseconds);
            w.WriteString("kind", KindName(device.Kind));
        }), Succeeded: true);

    private static CommandOutcome SetInterval(JsonElement? body, ICommandTarget device)
    {
        if (body?.TryGetProperty("intervalMs", out var value) != true || value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out var milliseconds))
        {
            return Failed("setInterval needs {\"intervalMs\":N} with a whole number of milliseconds");
        }

        var interval = TimeSpan.FromMilliseconds(milliseconds);
        if (interval < MinInterval || interval > MaxInterval)
        {
            return Failed($"intervalMs must be between {MinInterval.TotalMilliseconds} and {MaxInterval.TotalMilliseconds}, not {milliseconds}");
        }

        var previous = device.Interval;
        device.Interval = interval;
        return new(DevicePayloads.Write(w =>
        {
            w.WriteString("status", "ok");
            w.WriteNumber("intervalMs", milliseconds);
            w.WriteNumber("previousIntervalMs", (long)previous.TotalMilliseconds);
        }), Succeeded: true);
    }

    private static CommandOutcome SetTarget(JsonElement? body, ICommandTarget device)
    {
        if (body?.TryGetProperty("temperature", out var value) != true || value.ValueKind != JsonValueKind.Number)
        {
            return Failed("setTarget needs {\"temperature\":x} with a number in °C");
        }

        var target = value.GetDouble();
        if (target is < MinTarget or > MaxTarget)
        {
            return Failed($"temperature must be between {MinTarget} and {MaxTarget} °C, not {target}");
        }

        var previous = device.TargetTemperature;
        device.TargetTemperature = target;
        return new(DevicePayloads.Write(w =>
        {
            w.WriteString("status", "ok");
            w.WriteNumber("target", target);
            w.WriteNumber("previousTarget", previous);
        }), Succeeded: true);
    }

    private static CommandOutcome Reboot(JsonElement? body)
    {
        var pause = DefaultRebootPause;
        if (body?.TryGetProperty("delayMs", out var value) == true)
        {
            if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out var milliseconds) || milliseconds < 0 || milliseconds > MaxRebootPause.TotalMilliseconds)
            {
                return Failed($"delayMs must be a whole number between 0 and {MaxRebootPause.TotalMilliseconds}");
            }

            pause = TimeSpan.FromMilliseconds(milliseconds);
        }

        return new(DevicePayloads.Write(w =>
        {
            w.WriteString("status", "ok");
            w.WriteBoolean("rebooting", true);
            w.WriteNumber("pauseMs", (long)pause.TotalMilliseconds);
        }), Succeeded: true, pause);
    }

    /// <summary>The name of a kind on the command line and in answers: thermostat, environment, door.</summary>
    public static string KindName(DeviceKind kind) => kind switch
    {
        DeviceKind.Thermostat => "thermostat",
        DeviceKind.Environment => "environment",
        _ => "door",
    };
}
