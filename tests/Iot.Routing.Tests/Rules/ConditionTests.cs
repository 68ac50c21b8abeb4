using System.Text;
using System.Text.Json;
using Iot.Messaging;
using Iot.Routing.Rules;

namespace Iot.Routing.Tests.Rules;

public class ConditionTests
{
    private static readonly TimeProvider Time = TimeProvider.System;

    private static RoutedEvent Event(string topic = "devices/d1/events/alarm", string payload = """{"temperature":31.5,"severity":4,"site":{"name":"Plant-A"},"tags":["hot","north"],"ok":true,"none":null}""",
        params (string, string)[] properties) =>
        RoutedEvent.FromMessage(new RoutedMessage
        {
            Topic = topic,
            Payload = Encoding.UTF8.GetBytes(payload),
            UserProperties = [.. properties.Select(p => new KeyValuePair<string, string>(p.Item1, p.Item2))],
            ReceivedAt = DateTimeOffset.UnixEpoch.AddDays(20000),
        }, Time);

    private static bool Evaluate(string json, RoutedEvent? routedEvent = null)
    {
        var condition = JsonSerializer.Deserialize<EventCondition>(json, Iot.Routing.Internal.RoutingJson.Options)!;
        Assert.True(ConditionCompiler.TryCompile(condition, out var compiled, out var error), error);
        using var e = routedEvent ?? Event();
        return compiled.Evaluate(e);
    }

    [Theory]
    [InlineData("""{"operatorType":"NumberGreaterThan","key":"data.temperature","value":30}""", true)]
    [InlineData("""{"operatorType":"NumberGreaterThan","key":"data.temperature","value":31.5}""", false)]
    [InlineData("""{"operatorType":"NumberGreaterThanOrEquals","key":"data.temperature","value":31.5}""", true)]
    [InlineData("""{"operatorType":"NumberLessThan","key":"data.severity","value":5}""", true)]
    [InlineData("""{"operatorType":"NumberLessThanOrEquals","key":"data.severity","value":3}""", false)]
    [InlineData("""{"operatorType":"NumberIn","key":"data.severity","values":[1,4]}""", true)]
    [InlineData("""{"operatorType":"NumberNotIn","key":"data.severity","values":[1,4]}""", false)]
    [InlineData("""{"operatorType":"NumberInRange","key":"data.temperature","values":[[0,10],[30,40]]}""", true)]
    [InlineData("""{"operatorType":"NumberNotInRange","key":"data.temperature","values":[[0,10]]}""", true)]
    [InlineData("""{"operatorType":"StringIn","key":"data.site.name","values":["plant-a","plant-b"]}""", true)]
    [InlineData("""{"operatorType":"StringNotIn","key":"data.site.name","values":["plant-b"]}""", true)]
    [InlineData("""{"operatorType":"StringBeginsWith","key":"data.site.name","values":["Pla"]}""", true)]
    [InlineData("""{"operatorType":"StringEndsWith","key":"data.site.name","values":["-b"]}""", false)]
    [InlineData("""{"operatorType":"StringNotEndsWith","key":"data.site.name","values":["-b"]}""", true)]
    [InlineData("""{"operatorType":"StringContains","key":"data.tags","values":["nor"]}""", true)]
    [InlineData("""{"operatorType":"StringNotContains","key":"data.tags","values":["south"]}""", true)]
    [InlineData("""{"operatorType":"StringIn","key":"data.tags.1","values":["north"]}""", true)]
    [InlineData("""{"operatorType":"BoolEquals","key":"data.ok","value":true}""", true)]
    [InlineData("""{"operatorType":"BoolEquals","key":"data.ok","value":false}""", false)]
    [InlineData("""{"operatorType":"IsNotNull","key":"data.site"}""", true)]
    [InlineData("""{"operatorType":"Exists","key":"data.missing"}""", false)]
    [InlineData("""{"operatorType":"IsNullOrUndefined","key":"data.none"}""", true)]
    [InlineData("""{"operatorType":"IsNullOrUndefined","key":"data.missing"}""", true)]
    [InlineData("""{"operatorType":"IsNullOrUndefined","key":"data.ok"}""", false)]
    [InlineData("""{"operatorType":"StringIn","key":"type","values":["iot.device.event.alarm"]}""", true)]
    [InlineData("""{"operatorType":"StringBeginsWith","key":"subject","values":["devices/d1/"]}""", true)]
    [InlineData("""{"operatorType":"StringIn","key":"source","values":["/iot/devices/d1"]}""", true)]
    [InlineData("""{"operatorType":"NumberGreaterThan","key":"data.missing","value":1}""", false)]
    [InlineData("""{"operatorType":"NumberNotIn","key":"data.missing","values":[1]}""", true)]
    [InlineData("""{"operatorType":"NumberGreaterThan","key":"data.site.name","value":1}""", false)]
    public void Evaluate_PayloadAndAttributes_MatchesAsEventGrid(string condition, bool expected) =>
        Assert.Equal(expected, Evaluate(condition));

    [Fact]
    public void Evaluate_UserProperties_ReadsRepeatedNamesAndNumbers()
    {
        Assert.True(Evaluate("""{"operatorType":"StringIn","key":"userProperties.zone","values":["b"]}""",
            Event(properties: [("zone", "a"), ("zone", "b")])));
        Assert.True(Evaluate("""{"operatorType":"NumberGreaterThan","key":"userProperties.level","value":2}""",
            Event(properties: [("level", "3")])));
        Assert.False(Evaluate("""{"operatorType":"IsNotNull","key":"userProperties.zone"}""", Event()));
    }

    [Fact]
    public void Evaluate_PayloadNotJson_DataConditionsDoNotMatch()
    {
        Assert.False(Evaluate("""{"operatorType":"IsNotNull","key":"data"}""", Event(payload: "not json {")));
        Assert.True(Evaluate("""{"operatorType":"StringIn","key":"type","values":["iot.device.event.alarm"]}""", Event(payload: "not json {")));
    }

    [Fact]
    public void Evaluate_ValuesFromConfigurationStrings_AreConverted()
    {
        Assert.True(Evaluate("""{"operatorType":"NumberGreaterThan","key":"data.temperature","value":"30"}"""));
        Assert.True(Evaluate("""{"operatorType":"BoolEquals","key":"data.ok","value":"true"}"""));
        Assert.True(Evaluate("""{"operatorType":"NumberInRange","key":"data.severity","values":[["3","5"]]}"""));
    }

    [Theory]
    [InlineData("""{"operatorType":"NumberBiggerThan","key":"data.x","value":1}""", "Unknown operatorType")]
    [InlineData("""{"operatorType":"NumberGreaterThan","key":"payload.x","value":1}""", "Unknown key")]
    [InlineData("""{"operatorType":"NumberGreaterThan","key":"data.x"}""", "numeric 'value'")]
    [InlineData("""{"operatorType":"NumberIn","key":"data.x","values":["a"]}""", "values[0]")]
    [InlineData("""{"operatorType":"NumberInRange","key":"data.x","values":[[5,1]]}""", "low <= high")]
    [InlineData("""{"operatorType":"StringIn","key":"data.x","values":[]}""", "between 1 and")]
    [InlineData("""{"operatorType":"BoolEquals","key":"data.x","value":3}""", "true or false")]
    [InlineData("""{"operatorType":"StringIn","key":"data..x","values":["a"]}""", "empty path segment")]
    public void TryCompile_InvalidCondition_ExplainsWhy(string json, string expected)
    {
        var condition = JsonSerializer.Deserialize<EventCondition>(json, Iot.Routing.Internal.RoutingJson.Options)!;
        Assert.False(ConditionCompiler.TryCompile(condition, out _, out var error));
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryCompile_AttributeConditionsFirst_PayloadNotParsedWhenTheyFail()
    {
        var conditions = new List<EventCondition>
        {
            JsonSerializer.Deserialize<EventCondition>("""{"operatorType":"IsNotNull","key":"data.x"}""", Iot.Routing.Internal.RoutingJson.Options)!,
            JsonSerializer.Deserialize<EventCondition>("""{"operatorType":"StringIn","key":"type","values":["other"]}""", Iot.Routing.Internal.RoutingJson.Options)!,
        };
        Assert.True(ConditionCompiler.TryCompile(conditions, out var compiled, out _));
        Assert.False(compiled[0].ReadsData);
        Assert.True(compiled[1].ReadsData);
        Assert.False(ConditionCompiler.TryCompile(Enumerable.Repeat(conditions[0], 26).ToList(), out _, out var error));
        Assert.Contains("25", error, StringComparison.Ordinal);
    }
}
