using System.Globalization;
using System.Text.Json;

namespace Iot.Routing.Rules;

/// <summary>A condition checked and converted once, evaluated per message without allocation.</summary>
internal sealed class CompiledCondition
{
    private readonly ConditionOperator _operator;
    private readonly bool _negated;
    private readonly KeyKind _kind;
    private readonly string _name;
    private readonly string[] _path;
    private readonly double[] _numbers;
    private readonly (double Low, double High)[] _ranges;
    private readonly string[] _strings;
    private readonly bool _bool;

    internal CompiledCondition(ConditionOperator op, KeyKind kind, string name, string[] path, double[] numbers,
        (double, double)[] ranges, string[] strings, bool boolValue)
    {
        _operator = Positive(op);
        _negated = op != _operator;
        _kind = kind;
        _name = name;
        _path = path;
        _numbers = numbers;
        _ranges = ranges;
        _strings = strings;
        _bool = boolValue;
    }

    internal enum KeyKind
    {
        Type,
        Subject,
        Source,
        Id,
        ContentType,
        UserProperty,
        Data,
    }

    /// <summary>Whether this condition needs the JSON payload.</summary>
    public bool ReadsData => _kind == KeyKind.Data;

    /// <summary>Evaluates the condition; a missing key fails positive operators and passes negated ones.</summary>
    public bool Evaluate(RoutedEvent routedEvent)
    {
        bool found = false;
        bool isNull = false;
        bool matched = false;
        switch (_kind)
        {
            case KeyKind.Type:
                found = true;
                matched = MatchString(routedEvent.Type);
                break;
            case KeyKind.Subject:
                found = true;
                matched = MatchString(routedEvent.Topic);
                break;
            case KeyKind.Source:
                found = true;
                matched = MatchString(routedEvent.Source);
                break;
            case KeyKind.Id:
                found = true;
                matched = MatchString(routedEvent.Id);
                break;
            case KeyKind.ContentType:
                found = routedEvent.ContentType is not null;
                matched = found && MatchString(routedEvent.ContentType!);
                break;
            case KeyKind.UserProperty:
                foreach (var (key, value) in routedEvent.UserProperties)
                {
                    if (string.Equals(key, _name, StringComparison.Ordinal))
                    {
                        found = true;
                        matched |= MatchString(value);
                    }
                }

                break;
            default:
                if (routedEvent.TryGetData(out var root) && TryResolve(root, _path, out var element))
                {
                    found = true;
                    isNull = element.ValueKind == JsonValueKind.Null;
                    matched = MatchElement(element);
                }

                break;
        }

        return _operator switch
        {
            ConditionOperator.IsNullOrUndefined => !found || isNull,
            ConditionOperator.IsNotNull => found && !isNull,
            _ => matched != _negated,
        };
    }

    private static ConditionOperator Positive(ConditionOperator op) => op switch
    {
        ConditionOperator.NumberNotIn => ConditionOperator.NumberIn,
        ConditionOperator.NumberNotInRange => ConditionOperator.NumberInRange,
        ConditionOperator.StringNotContains => ConditionOperator.StringContains,
        ConditionOperator.StringNotBeginsWith => ConditionOperator.StringBeginsWith,
        ConditionOperator.StringNotEndsWith => ConditionOperator.StringEndsWith,
        ConditionOperator.StringNotIn => ConditionOperator.StringIn,
        _ => op,
    };

    private static bool TryResolve(JsonElement root, string[] path, out JsonElement element)
    {
        element = root;
        foreach (var segment in path)
        {
            if (element.ValueKind == JsonValueKind.Object && element.TryGetProperty(segment, out var child))
            {
                element = child;
            }
            else if (element.ValueKind == JsonValueKind.Array
                && int.TryParse(segment, NumberStyles.None, CultureInfo.InvariantCulture, out int index)
                && index < element.GetArrayLength())
            {
                element = element[index];
            }
            else
            {
                return false;
            }
        }

        return true;
    }

    // A JSON array matches when any of its elements does, as Event Grid's filtering on arrays.
    private bool MatchElement(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.Array && MatchElement(item))
                    {
                        return true;
                    }
                }

                return false;
            case JsonValueKind.Number:
                return element.TryGetDouble(out double number) && MatchNumber(number);
            case JsonValueKind.String:
                return MatchString(element.GetString()!);
            case JsonValueKind.True:
            case JsonValueKind.False:
                return _operator == ConditionOperator.BoolEquals && element.GetBoolean() == _bool;
            default:
                return false;
        }
    }

    private bool MatchString(string value)
    {
        switch (_operator)
        {
            case ConditionOperator.StringIn:
                foreach (var candidate in _strings)
                {
                    if (string.Equals(value, candidate, StringComparison.OrdinalIgnoreCase))
                    {
                        return true;
                    }
                }

                return false;
            case ConditionOperator.StringContains:
                return Any(value, static (v, c) => v.Contains(c, StringComparison.OrdinalIgnoreCase));
            case ConditionOperator.StringBeginsWith:
                return Any(value, static (v, c) => v.StartsWith(c, StringComparison.OrdinalIgnoreCase));
            case ConditionOperator.StringEndsWith:
                return Any(value, static (v, c) => v.EndsWith(c, StringComparison.OrdinalIgnoreCase));
            case ConditionOperator.BoolEquals:
                return bool.TryParse(value, out bool flag) && flag == _bool;
            case ConditionOperator.IsNullOrUndefined:
            case ConditionOperator.IsNotNull:
                return true;
            default:
                // Attributes and MQTT user properties are strings: numeric operators read them as numbers.
                return double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double number)
                    && MatchNumber(number);
        }
    }

    private bool Any(string value, Func<string, string, bool> predicate)
    {
        foreach (var candidate in _strings)
        {
            if (predicate(value, candidate))
            {
                return true;
            }
        }

        return false;
    }

    private bool MatchNumber(double number)
    {
        switch (_operator)
        {
            case ConditionOperator.NumberIn:
                return Array.IndexOf(_numbers, number) >= 0;
            case ConditionOperator.NumberLessThan:
                return number < _numbers[0];
            case ConditionOperator.NumberGreaterThan:
                return number > _numbers[0];
            case ConditionOperator.NumberLessThanOrEquals:
                return number <= _numbers[0];
            case ConditionOperator.NumberGreaterThanOrEquals:
                return number >= _numbers[0];
            case ConditionOperator.NumberInRange:
                foreach (var (low, high) in _ranges)
                {
                    if (number >= low && number <= high)
                    {
                        return true;
                    }
                }

                return false;
            default:
                return false;
        }
    }
}
