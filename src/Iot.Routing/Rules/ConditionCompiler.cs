using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.Json;

namespace Iot.Routing.Rules;

/// <summary>Checks condition definitions and compiles them; errors name the condition and the problem.</summary>
internal static class ConditionCompiler
{
    /// <summary>At most this many conditions per route or subscription (Event Grid allows 25).</summary>
    public const int MaxConditions = 25;

    /// <summary>At most this many values per condition.</summary>
    public const int MaxValues = 100;

    /// <summary>Compiles all <paramref name="conditions"/> (combined with AND).</summary>
    public static bool TryCompile(IReadOnlyList<EventCondition>? conditions, out CompiledCondition[] compiled,
        [NotNullWhen(false)] out string? error)
    {
        compiled = [];
        error = null;
        if (conditions is null || conditions.Count == 0)
        {
            return true;
        }

        if (conditions.Count > MaxConditions)
        {
            error = $"At most {MaxConditions} conditions are allowed; got {conditions.Count}.";
            return false;
        }

        var result = new CompiledCondition[conditions.Count];
        for (int i = 0; i < conditions.Count; i++)
        {
            if (!TryCompile(conditions[i], out var condition, out var message))
            {
                error = $"conditions[{i}]: {message}";
                return false;
            }

            result[i] = condition;
        }

        // Conditions on attributes first: they are cheap and may spare parsing the payload.
        compiled = [.. result.OrderBy(c => c.ReadsData)];
        return true;
    }

    /// <summary>Compiles one condition.</summary>
    public static bool TryCompile(EventCondition? condition, [NotNullWhen(true)] out CompiledCondition? compiled,
        [NotNullWhen(false)] out string? error)
    {
        compiled = null;
        if (condition is null)
        {
            error = "The condition is missing.";
            return false;
        }

        if (!TryParseOperator(condition.OperatorType, out var op))
        {
            error = $"Unknown operatorType '{condition.OperatorType}'; expected one of {string.Join(", ", Enum.GetNames<ConditionOperator>())} or Exists.";
            return false;
        }

        if (!TryParseKey(condition.Key, out var kind, out var name, out var path, out error))
        {
            return false;
        }

        double[] numbers = [];
        (double, double)[] ranges = [];
        string[] strings = [];
        bool flag = false;
        switch (op)
        {
            case ConditionOperator.NumberIn:
            case ConditionOperator.NumberNotIn:
                if (!TryReadList(condition, op, ReadNumber, out numbers, out error))
                {
                    return false;
                }

                break;
            case ConditionOperator.NumberLessThan:
            case ConditionOperator.NumberGreaterThan:
            case ConditionOperator.NumberLessThanOrEquals:
            case ConditionOperator.NumberGreaterThanOrEquals:
                if (condition.Value is not { } single || ReadNumber(single) is not { } number)
                {
                    error = $"{op} needs a numeric 'value'.";
                    return false;
                }

                numbers = [number];
                break;
            case ConditionOperator.NumberInRange:
            case ConditionOperator.NumberNotInRange:
                if (!TryReadList(condition, op, ReadRange, out var pairs, out error))
                {
                    return false;
                }

                ranges = [.. pairs.Select(p => (p.Low, p.High))];
                break;
            case ConditionOperator.BoolEquals:
                if (condition.Value is not { } boolean || ReadBool(boolean) is not { } value)
                {
                    error = "BoolEquals needs 'value' true or false.";
                    return false;
                }

                flag = value;
                break;
            case ConditionOperator.IsNullOrUndefined:
            case ConditionOperator.IsNotNull:
                break;
            default:
                if (!TryReadStrings(condition, op, out strings, out error))
                {
                    return false;
                }

                break;
        }

        compiled = new CompiledCondition(op, kind, name, path, numbers, ranges, strings, flag);
        return true;
    }

    private static bool TryParseOperator(string? text, out ConditionOperator op)
    {
        if (string.Equals(text, "Exists", StringComparison.OrdinalIgnoreCase))
        {
            op = ConditionOperator.IsNotNull;
            return true;
        }

        return Enum.TryParse(text, ignoreCase: true, out op) && Enum.IsDefined(op)
            && !int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out _);
    }

    private static bool TryParseKey(string? key, out CompiledCondition.KeyKind kind, out string name, out string[] path,
        [NotNullWhen(false)] out string? error)
    {
        kind = default;
        name = "";
        path = [];
        error = null;
        switch (key?.ToLowerInvariant())
        {
            case "type" or "eventtype":
                kind = CompiledCondition.KeyKind.Type;
                return true;
            case "subject" or "topic":
                kind = CompiledCondition.KeyKind.Subject;
                return true;
            case "source":
                kind = CompiledCondition.KeyKind.Source;
                return true;
            case "id":
                kind = CompiledCondition.KeyKind.Id;
                return true;
            case "datacontenttype" or "contenttype":
                kind = CompiledCondition.KeyKind.ContentType;
                return true;
            case "data":
                kind = CompiledCondition.KeyKind.Data;
                return true;
        }

        if (key is not null && key.StartsWith("data.", StringComparison.OrdinalIgnoreCase) && key.Length > 5)
        {
            path = key[5..].Split('.');
            if (path.Any(string.IsNullOrEmpty))
            {
                error = $"The key '{key}' has an empty path segment.";
                return false;
            }

            kind = CompiledCondition.KeyKind.Data;
            return true;
        }

        foreach (var prefix in (string[])["userProperties.", "properties."])
        {
            if (key is not null && key.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) && key.Length > prefix.Length)
            {
                kind = CompiledCondition.KeyKind.UserProperty;
                name = key[prefix.Length..];
                return true;
            }
        }

        error = $"Unknown key '{key}'; use type, subject, source, id, datacontenttype, data, data.{{path}} or userProperties.{{name}}.";
        return false;
    }

    private static bool TryReadList<T>(EventCondition condition, ConditionOperator op, Func<JsonElement, T?> read,
        out T[] values, [NotNullWhen(false)] out string? error)
        where T : struct
    {
        values = [];
        if (!TryCollect(condition, op, out var items, out error))
        {
            return false;
        }

        var result = new T[items.Count];
        for (int i = 0; i < items.Count; i++)
        {
            if (read(items[i]) is not { } value)
            {
                error = $"{op}: values[{i}] is not {Describe(op)}.";
                return false;
            }

            result[i] = value;
        }

        values = result;
        return true;
    }

    private static bool TryReadStrings(EventCondition condition, ConditionOperator op, out string[] values,
        [NotNullWhen(false)] out string? error)
    {
        values = [];
        if (!TryCollect(condition, op, out var items, out error))
        {
            return false;
        }

        var result = new string[items.Count];
        for (int i = 0; i < items.Count; i++)
        {
            if (ReadString(items[i]) is not { } value)
            {
                error = $"{op}: values[{i}] is not {Describe(op)}.";
                return false;
            }

            result[i] = value;
        }

        values = result;
        return true;
    }

    private static bool TryCollect(EventCondition condition, ConditionOperator op, out List<JsonElement> items,
        [NotNullWhen(false)] out string? error)
    {
        error = null;
        items = [];
        if (condition.Values is { ValueKind: JsonValueKind.Array } array)
        {
            items.AddRange(array.EnumerateArray());
        }
        else if (condition.Values is { } other && other.ValueKind != JsonValueKind.Null)
        {
            items.Add(other);
        }

        if (condition.Value is { } one && one.ValueKind != JsonValueKind.Null)
        {
            items.Add(one);
        }

        if (items.Count == 0 || items.Count > MaxValues)
        {
            error = $"{op} needs between 1 and {MaxValues} 'values'.";
            return false;
        }

        return true;
    }

    private static string Describe(ConditionOperator op) => op switch
    {
        ConditionOperator.NumberInRange or ConditionOperator.NumberNotInRange => "a pair [low, high] with low <= high",
        ConditionOperator.NumberIn or ConditionOperator.NumberNotIn => "a number",
        _ => "a non-empty string",
    };

    private static double? ReadNumber(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Number => element.GetDouble(),
        // Values bound from configuration arrive as strings.
        JsonValueKind.String when double.TryParse(element.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out double d) => d,
        _ => null,
    };

    private static bool? ReadBool(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.String when bool.TryParse(element.GetString(), out bool b) => b,
        _ => null,
    };

    private static string? ReadString(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.String when !string.IsNullOrEmpty(element.GetString()) => element.GetString(),
        JsonValueKind.Number => element.GetRawText(),
        _ => null,
    };

    private static (double Low, double High)? ReadRange(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Array || element.GetArrayLength() != 2
            || ReadNumber(element[0]) is not { } low || ReadNumber(element[1]) is not { } high || low > high)
        {
            return null;
        }

        return (low, high);
    }
}
