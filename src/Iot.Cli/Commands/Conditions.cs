using System.CommandLine;
using System.Text.Json;

namespace Iot.Cli.Commands;

/// <summary>The repeatable <c>--condition</c> option of routes and subscriptions: one condition as the API's JSON each.</summary>
internal static class Conditions
{
    /// <summary>A <c>--condition</c> option, checked to be JSON objects when parsed.</summary>
    public static Option<string[]> Option(string description)
    {
        var option = new Option<string[]>("--condition")
        {
            Description = description + " Repeat for several; all must hold.",
            HelpName = "json",
            AllowMultipleArgumentsPerToken = false,
        };
        option.Validators.Add(r =>
        {
            foreach (var text in r.GetValueOrDefault<string[]>() ?? [])
            {
                if (Parse(text) is not { ValueKind: JsonValueKind.Object })
                {
                    r.AddError($"--condition '{text}' is not a JSON object such as {{\"operatorType\":\"StringIn\",\"key\":\"type\",\"values\":[\"x\"]}}.");
                }
            }
        });
        return option;
    }

    /// <summary>The conditions as JSON values for the request body; null when none were given (the API's default).</summary>
    public static JsonElement[]? Read(string[]? texts) => texts is { Length: > 0 } ? texts.Select(t => Parse(t)!.Value).ToArray() : null;

    private static JsonElement? Parse(string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            return document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
