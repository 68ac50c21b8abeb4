using System.CommandLine;
using System.Text.Json;
using Iot.Cli.Http;
using Iot.Cli.Output;

namespace Iot.Cli;

/// <summary>What a command's action works with: the parsed command line, the API client, the output and the clock.</summary>
internal sealed class CliContext : IDisposable
{
    public CliContext(ParseResult parse, GlobalOptions options, TextWriter output, TextWriter error, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(parse);
        ArgumentNullException.ThrowIfNull(options);
        Parse = parse;
        Out = output;
        Error = error;
        Time = time;
        Json = parse.GetValue(options.Json);
        Api = new ApiClient(parse.GetValue(options.Url)!, parse.GetValue(options.ApiKey), parse.GetValue(options.Timeout));
    }

    /// <summary>The parsed command line.</summary>
    public ParseResult Parse { get; }

    /// <summary>The broker's API.</summary>
    public ApiClient Api { get; }

    /// <summary>True with <c>--json</c>: print the API's JSON, not tables.</summary>
    public bool Json { get; }

    /// <summary>Standard output: results.</summary>
    public TextWriter Out { get; }

    /// <summary>Standard error: errors and notes that are not results.</summary>
    public TextWriter Error { get; }

    /// <summary>The clock of waits and polls.</summary>
    public TimeProvider Time { get; }

    /// <summary>The value of an option or argument.</summary>
    public T Get<T>(Option<T> option) => Parse.GetValue(option)!;

    /// <summary>The value of an argument.</summary>
    public T Get<T>(Argument<T> argument) => Parse.GetValue(argument)!;

    /// <summary>Prints an answer: its JSON as received with <c>--json</c>, else what <paramref name="human"/> writes.</summary>
    public int Print(ApiResponse response, Action<JsonElement> human)
    {
        ArgumentNullException.ThrowIfNull(response);
        ArgumentNullException.ThrowIfNull(human);
        if (Json)
        {
            WriteJson(response);
        }
        else
        {
            human(response.Json);
        }

        return ExitCodes.Ok;
    }

    /// <summary>Prints one resource as aligned name-value lines (its JSON with <c>--json</c>).</summary>
    public int PrintProperties(ApiResponse response, Func<JsonElement, IEnumerable<(string Name, string? Value)>> properties) =>
        Print(response, json => Table.WriteProperties(Out, properties(json)));

    /// <summary>Writes the body of an answer as received (nothing for an empty 204).</summary>
    public void WriteJson(ApiResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (response.Body.Length > 0)
        {
            Out.WriteLine(response.Body);
        }
    }

    /// <summary>Writes a value the CLI composed itself as indented JSON.</summary>
    public void WriteJson<T>(T value) => Out.WriteLine(JsonSerializer.Serialize(value, CliJson.Indented));

    /// <summary>A line for people: on stdout without <c>--json</c>; with it, on stderr so that stdout stays JSON.</summary>
    public void Note(string line) => (Json ? Error : Out).WriteLine(line);

    /// <inheritdoc/>
    public void Dispose() => Api.Dispose();
}
