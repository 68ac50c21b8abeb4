using System.Text.Json;
using Iot.Simulator.Devices;
using Iot.Simulator.Reporting;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Simulator.Tests;

public sealed class ReportingTests
{
    private static SimulatorStats SomeActivity()
    {
        var stats = new SimulatorStats(3);
        stats.DeviceConnected(first: true);
        stats.DeviceConnected(first: true);
        stats.DeviceDisconnected();
        stats.DeviceConnected(first: false);
        stats.Published(isEvent: false);
        stats.Published(isEvent: true);
        stats.Acked();
        stats.CommandReceived();
        stats.CommandAnswered();
        return stats;
    }

    [Fact]
    public void StatusLine_Counters_OneLineInTheDocumentedShape()
    {
        var line = ProgressReporter.StatusLine(SomeActivity().Snapshot(), TimeSpan.FromSeconds(12.7));

        Assert.Equal("t=12s connected=2/3 sent=2 acked=1 events=1 commands=1 answered=1 errors=0 reconnects=1", line);
    }

    [Fact]
    public void WriteSummary_Json_LastLineIsTheSummaryObject()
    {
        var time = new FakeTimeProvider();
        using var output = new StringWriter();
        var reporter = new ProgressReporter(SomeActivity(), output, TextWriter.Null, inPlace: false, time);
        time.Advance(TimeSpan.FromSeconds(4));

        reporter.WriteSummary(json: true);

        var last = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1];
        using var summary = JsonDocument.Parse(last);
        Assert.Equal(2, summary.RootElement.GetProperty("everConnected").GetInt32());
        Assert.Equal(1, summary.RootElement.GetProperty("reconnects").GetInt64());
        Assert.Equal(4, summary.RootElement.GetProperty("elapsedSeconds").GetDouble());
        Assert.Equal(0.5, summary.RootElement.GetProperty("sentPerSecond").GetDouble());
    }

    [Fact]
    public void WriteStatus_InPlace_RewritesTheLineWithCarriageReturn()
    {
        using var output = new StringWriter();
        var reporter = new ProgressReporter(new SimulatorStats(1), output, TextWriter.Null, inPlace: true, new FakeTimeProvider());

        reporter.WriteStatus();
        reporter.WriteStatus();

        Assert.Equal(2, output.ToString().Count(c => c == '\r'));
        Assert.DoesNotContain('\n', output.ToString());
    }

    [Fact]
    public void ReportError_ManyErrors_CountedAllPrintedUpToTheLimit()
    {
        var stats = new SimulatorStats(1);
        using var errors = new StringWriter();
        var reporter = new ProgressReporter(stats, TextWriter.Null, errors, inPlace: false, new FakeTimeProvider());

        for (int i = 0; i < 50; i++)
        {
            reporter.ReportError("sim-0001", "boom " + i);
        }

        Assert.Equal(50, stats.Snapshot().Errors);
        Assert.Equal(ProgressReporter.MaxPrintedErrors + 1, errors.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public void Telemetry_Fields_JsonWithTsInUnixMilliseconds()
    {
        var payload = DevicePayloads.Telemetry([new("temperature", 21.25), new("battery", 80)], DateTimeOffset.FromUnixTimeMilliseconds(1_767_225_600_123));

        using var json = JsonDocument.Parse(payload);
        Assert.Equal(1_767_225_600_123, json.RootElement.GetProperty("ts").GetInt64());
        Assert.Equal(21.25, json.RootElement.GetProperty("temperature").GetDouble());
        Assert.Equal(80, json.RootElement.GetProperty("battery").GetDouble());
    }

    [Fact]
    public void Event_Fields_JsonWithTypeAndValues()
    {
        var payload = DevicePayloads.Event(new DeviceEvent("temperatureAlarm", [new("state", "raised"), new("temperature", 28.5)]), DateTimeOffset.UnixEpoch);

        using var json = JsonDocument.Parse(payload);
        Assert.Equal("temperatureAlarm", json.RootElement.GetProperty("type").GetString());
        Assert.Equal("raised", json.RootElement.GetProperty("state").GetString());
        Assert.Equal(28.5, json.RootElement.GetProperty("temperature").GetDouble());
    }
}
