using System.CommandLine;

namespace Iot.Cli;

/// <summary>The options every command takes (<c>Recursive</c>): where the broker is, the key, the output form, the time limit.</summary>
internal sealed class GlobalOptions
{
    /// <summary>The broker's HTTP address when neither <c>--url</c> nor <c>IOT_URL</c> says otherwise.</summary>
    public const string DefaultUrl = "http://localhost:8080";

    /// <summary><c>--url</c>, default <c>IOT_URL</c> or <see cref="DefaultUrl"/>.</summary>
    public Option<Uri> Url { get; } = new("--url")
    {
        Description = "The broker's HTTP address (env IOT_URL).",
        HelpName = "url",
        Recursive = true,
        DefaultValueFactory = _ => new Uri(Environment.GetEnvironmentVariable("IOT_URL") is { Length: > 0 } url ? url : DefaultUrl),
        CustomParser = result =>
        {
            var text = result.Tokens.Single().Value;
            if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps))
            {
                return uri;
            }

            result.AddError($"--url '{text}' is not an http:// or https:// address.");
            return null;
        },
    };

    /// <summary><c>--api-key</c>, default <c>IOT_API_KEY</c>.</summary>
    public Option<string?> ApiKey { get; } = new("--api-key")
    {
        Description = "The API key of a service identity (a dashboard key can only read) (env IOT_API_KEY).",
        HelpName = "key",
        Recursive = true,
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("IOT_API_KEY") is { Length: > 0 } key ? key : null,
    };

    /// <summary><c>--json</c>: the API's JSON instead of tables.</summary>
    public Option<bool> Json { get; } = new("--json")
    {
        Description = "Print the API's JSON answer instead of a table (for scripts).",
        Recursive = true,
    };

    /// <summary><c>--timeout</c>: the time limit of each request.</summary>
    public Option<TimeSpan> Timeout { get; } = CliOptions.Duration("--timeout",
        "Time limit of each HTTP request (e.g. 30s); a long poll (--wait) gets this on top.", TimeSpan.FromSeconds(30), recursive: true);

    /// <summary>All of them, to add to the root command.</summary>
    public IEnumerable<Option> All => [Url, ApiKey, Json, Timeout];
}
