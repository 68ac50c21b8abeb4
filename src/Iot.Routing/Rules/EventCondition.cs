using System.Text.Json;

namespace Iot.Routing.Rules;

/// <summary>
/// One condition, as Event Grid's advanced filters: <c>{"operatorType":"NumberGreaterThan","key":"data.temperature","value":30}</c>.
/// </summary>
/// <remarks>
/// Keys: <c>type</c> (or <c>eventType</c>), <c>subject</c> (or <c>topic</c>), <c>source</c>, <c>id</c>,
/// <c>datacontenttype</c>, <c>userProperties.{name}</c> (MQTT 5 user properties), <c>data</c> and
/// <c>data.{dotted.path}</c> (JSON payload fields; a numeric segment indexes an array).
/// </remarks>
internal sealed class EventCondition
{
    /// <summary>The operator, e.g. <c>StringIn</c>, <c>NumberInRange</c>, <c>IsNotNull</c> (see <see cref="ConditionOperator"/>).</summary>
    public string OperatorType { get; set; } = "";

    /// <summary>What the condition reads.</summary>
    public string Key { get; set; } = "";

    /// <summary>The operand of single-value operators (number comparisons, <c>BoolEquals</c>).</summary>
    public JsonElement? Value { get; set; }

    /// <summary>The operands of set operators (<c>...In</c>, <c>String...</c>); pairs for the range operators.</summary>
    public JsonElement? Values { get; set; }
}

/// <summary>The condition operators (Event Grid advanced filter names; <c>Exists</c> is an alias of <c>IsNotNull</c>).</summary>
internal enum ConditionOperator
{
    NumberIn,
    NumberNotIn,
    NumberLessThan,
    NumberGreaterThan,
    NumberLessThanOrEquals,
    NumberGreaterThanOrEquals,
    NumberInRange,
    NumberNotInRange,
    BoolEquals,
    StringContains,
    StringNotContains,
    StringBeginsWith,
    StringNotBeginsWith,
    StringEndsWith,
    StringNotEndsWith,
    StringIn,
    StringNotIn,
    IsNullOrUndefined,
    IsNotNull,
}
