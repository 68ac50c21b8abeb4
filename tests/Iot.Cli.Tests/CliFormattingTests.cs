using System.Text;
using System.Text.Json;
using Iot.Cli.Commands;
using Iot.Cli.Metrics;
using Iot.Cli.Output;

namespace Iot.Cli.Tests;

/// <summary>The CLI's own parsing and formatting, in process: durations, tables, Prometheus text, resubmitted bodies.</summary>
public sealed class CliFormattingTests
{
    [Theory]
    [InlineData("250ms", 0.25)]
    [InlineData("30s", 30)]
    [InlineData("30", 30)]
    [InlineData("1.5", 1.5)]
    [InlineData("5m", 300)]
    [InlineData("2h", 7200)]
    [InlineData("7d", 604800)]
    [InlineData("00:01:00", 60)]
    [InlineData("1.00:00:00", 86400)]
    public void Durations_TryParse_AcceptsOperatorForms(string text, double seconds)
    {
        Assert.True(Durations.TryParse(text, out var value, out var error), error);
        Assert.Equal(TimeSpan.FromSeconds(seconds), value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("soon")]
    [InlineData("-5s")]
    [InlineData("5w")]
    [InlineData("NaN")]
    public void Durations_TryParse_RefusesOthersWithTheForms(string text)
    {
        Assert.False(Durations.TryParse(text, out _, out var error));
        Assert.Contains("250ms, 30s, 5m", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Durations_ToApi_IsTheConstantFormat() => Assert.Equal("1.02:03:04", Durations.ToApi(new TimeSpan(1, 2, 3, 4)));

    [Fact]
    public void Table_Write_AlignsColumnsWithoutTrailingSpaces()
    {
        var table = new Table("id", "role");
        table.Add("dev-1", "device");
        table.Add("a-much-longer-id", null);
        table.Add("line\nbreak", "x");
        var text = new StringWriter { NewLine = "\n" };
        table.Write(text);
        Assert.Equal("ID                ROLE\ndev-1             device\na-much-longer-id  -\nline break        x\n", text.ToString());
    }

    [Fact]
    public void Table_WriteProperties_AlignsValuesAndSkipsNulls()
    {
        var text = new StringWriter { NewLine = "\n" };
        Table.WriteProperties(text, [("Id", "dev-1"), ("Password", null), ("Created", "2026-01-01 00:00:00Z")]);
        Assert.Equal("Id:       dev-1\nCreated:  2026-01-01 00:00:00Z\n", text.ToString());
    }

    [Fact]
    public void PrometheusText_Parse_ReadsNamesLabelsAndValues()
    {
        var samples = PrometheusText.Parse("""
            # HELP iot_mqtt_connections Open MQTT connections.
            # TYPE iot_mqtt_connections gauge
            iot_mqtt_connections 3
            iot_mqtt_messages_dropped_total{reason="queue_full"} 7
            odd_label{path="a\"b",x="1"} 1.5e3 1700000000000
            not a sample line
            nan_value NaN

            """);
        Assert.Equal(["iot_mqtt_connections", "iot_mqtt_messages_dropped_total", "odd_label", "nan_value"], samples.Select(s => s.Name));
        Assert.Equal(3, samples[0].Value);
        Assert.Equal("queue_full", samples[1].Labels["reason"]);
        Assert.Equal("iot_mqtt_messages_dropped_total{reason=\"queue_full\"}", samples[1].Key);
        Assert.Equal("a\"b", samples[2].Labels["path"]);
        Assert.Equal(1500, samples[2].Value);
        Assert.True(double.IsNaN(samples[3].Value));
    }

    [Fact]
    public void MetricsSummary_Select_ShowsLabelledFiguresOnlyWhenNotZero()
    {
        var figures = MetricsGroup.Select(PrometheusText.Parse("""
            iot_mqtt_connections 2
            iot_mqtt_messages_dropped_total{reason="queue_full"} 0
            iot_mqtt_messages_dropped_total{reason="expired"} 4
            iot_unrelated_total 9
            """));
        Assert.Equal([("connections", 2.0), ("messages dropped (reason=expired)", 4.0)], figures.Select(f => (f.Label, f.Value)));
    }

    [Theory]
    [InlineData("""{"a":1}""", "application/json", """{"a":1}""")]
    [InlineData("\"quoted\"", "application/json", "\"quoted\"")]
    [InlineData("\"plain text\"", "text/plain", "plain text")]
    [InlineData("""{"base64":"AAEC"}""", null, "\u0000\u0001\u0002")]
    [InlineData("""{"base64":"AAEC"}""", "application/json", """{"base64":"AAEC"}""")]
    [InlineData("42", null, "42")]
    public void Resubmit_BodyBytes_TurnTheApiViewBackIntoTheBody(string shown, string? contentType, string expected)
    {
        using var document = JsonDocument.Parse(shown);
        Assert.Equal(Encoding.UTF8.GetBytes(expected), QueueResubmit.BodyBytes(document.RootElement, contentType));
    }
}
