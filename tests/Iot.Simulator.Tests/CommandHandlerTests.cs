using System.Text;
using System.Text.Json;
using Iot.Simulator.Devices;

namespace Iot.Simulator.Tests;

public sealed class CommandHandlerTests
{
    private sealed class FakeDevice : ICommandTarget
    {
        public DeviceKind Kind { get; init; } = DeviceKind.Thermostat;

        public TimeSpan Uptime { get; init; } = TimeSpan.FromSeconds(12.5);

        public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(1);

        public double TargetTemperature { get; set; } = 21;
    }

    private static (CommandOutcome Outcome, JsonElement Answer) Handle(string name, string payload, FakeDevice device)
    {
        var outcome = CommandHandler.Handle(name, Encoding.UTF8.GetBytes(payload), device);
        using var json = JsonDocument.Parse(outcome.Answer);
        return (outcome, json.RootElement.Clone());
    }

    [Fact]
    public void Handle_Ping_OkWithPongAndUptime()
    {
        var (outcome, answer) = Handle("ping", "", new FakeDevice());

        Assert.True(outcome.Succeeded);
        Assert.Null(outcome.RebootPause);
        Assert.Equal("ok", answer.GetProperty("status").GetString());
        Assert.True(answer.GetProperty("pong").GetBoolean());
        Assert.Equal(12500, answer.GetProperty("uptimeMs").GetInt64());
        Assert.Equal("thermostat", answer.GetProperty("kind").GetString());
    }

    [Fact]
    public void Handle_SetIntervalValid_ChangesIntervalAndReportsBoth()
    {
        var device = new FakeDevice();

        var (outcome, answer) = Handle("setInterval", """{"intervalMs":250}""", device);

        Assert.True(outcome.Succeeded);
        Assert.Equal(TimeSpan.FromMilliseconds(250), device.Interval);
        Assert.Equal(250, answer.GetProperty("intervalMs").GetInt64());
        Assert.Equal(1000, answer.GetProperty("previousIntervalMs").GetInt64());
    }

    [Theory]
    [InlineData("""{"intervalMs":10}""")]
    [InlineData("""{"intervalMs":99999999}""")]
    [InlineData("""{"intervalMs":"fast"}""")]
    [InlineData("""{"interval":500}""")]
    [InlineData("")]
    public void Handle_SetIntervalInvalid_FailedAndUnchanged(string payload)
    {
        var device = new FakeDevice();

        var (outcome, answer) = Handle("setInterval", payload, device);

        Assert.False(outcome.Succeeded);
        Assert.Equal("failed", answer.GetProperty("status").GetString());
        Assert.Contains("intervalMs", answer.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(TimeSpan.FromSeconds(1), device.Interval);
    }

    [Fact]
    public void Handle_SetTarget_MovesTarget()
    {
        var device = new FakeDevice();

        var (outcome, answer) = Handle("setTarget", """{"temperature":24.5}""", device);

        Assert.True(outcome.Succeeded);
        Assert.Equal(24.5, device.TargetTemperature);
        Assert.Equal(24.5, answer.GetProperty("target").GetDouble());
        Assert.Equal(21, answer.GetProperty("previousTarget").GetDouble());
    }

    [Theory]
    [InlineData("""{"temperature":500}""")]
    [InlineData("""{"temperature":"warm"}""")]
    [InlineData("{}")]
    public void Handle_SetTargetInvalid_FailedAndUnchanged(string payload)
    {
        var device = new FakeDevice();

        var (outcome, _) = Handle("setTarget", payload, device);

        Assert.False(outcome.Succeeded);
        Assert.Equal(21, device.TargetTemperature);
    }

    [Fact]
    public void Handle_RebootDefault_OkWithDefaultPause()
    {
        var (outcome, answer) = Handle("reboot", "{}", new FakeDevice());

        Assert.True(outcome.Succeeded);
        Assert.Equal(CommandHandler.DefaultRebootPause, outcome.RebootPause);
        Assert.True(answer.GetProperty("rebooting").GetBoolean());
    }

    [Fact]
    public void Handle_RebootWithDelay_PauseAsAsked()
    {
        var (outcome, answer) = Handle("reboot", """{"delayMs":300}""", new FakeDevice());

        Assert.Equal(TimeSpan.FromMilliseconds(300), outcome.RebootPause);
        Assert.Equal(300, answer.GetProperty("pauseMs").GetInt64());
    }

    [Fact]
    public void Handle_Unknown_FailedNamingTheCommandAndTheKnownOnes()
    {
        var (outcome, answer) = Handle("selfDestruct", "{}", new FakeDevice());

        Assert.False(outcome.Succeeded);
        Assert.Equal("failed", answer.GetProperty("status").GetString());
        var error = answer.GetProperty("error").GetString()!;
        Assert.Contains("unknown command 'selfDestruct'", error, StringComparison.Ordinal);
        Assert.Contains("setInterval", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{not json")]
    [InlineData("[1,2]")]
    [InlineData("\"text\"")]
    public void Handle_PayloadNotAJsonObject_FailedNotThrown(string payload)
    {
        var (outcome, answer) = Handle("setInterval", payload, new FakeDevice());

        Assert.False(outcome.Succeeded);
        Assert.Equal("failed", answer.GetProperty("status").GetString());
    }

    [Fact]
    public void Handle_NameInOtherCase_Understood()
    {
        var (outcome, _) = Handle("PING", "{}", new FakeDevice());

        Assert.True(outcome.Succeeded);
    }

    [Theory]
    [InlineData("devices/sim-0001/commands/ping/abc", true, "ping", "abc")]
    [InlineData("devices/sim-0001/commands/ping", false, "", "")]
    [InlineData("devices/sim-0002/commands/ping/abc", false, "", "")]
    [InlineData("devices/sim-0001/commands/ping/abc/extra", false, "", "")]
    [InlineData("devices/sim-0001/telemetry", false, "", "")]
    public void TryParseCommandTopic_Topics_NameAndIdForOwnCommandsOnly(string topic, bool ok, string name, string commandId)
    {
        Assert.Equal(ok, SimulatedDevice.TryParseCommandTopic(topic, "sim-0001", out var parsedName, out var parsedId));
        Assert.Equal(name, parsedName);
        Assert.Equal(commandId, parsedId);
    }
}
