using System.Text.Json;

namespace Iot.Cli.Http;

/// <summary>The API answered with an error: its RFC 7807 problem details (or, failing those, the status and body).</summary>
internal sealed class ApiException : Exception
{
    public ApiException()
    {
    }

    public ApiException(string message)
        : base(message)
    {
    }

    public ApiException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    private ApiException(ApiResponse response, string title, string? detail)
        : base(detail is null ? title : $"{title}: {detail}")
    {
        Response = response;
        Title = title;
        Detail = detail;
    }

    /// <summary>The answer as received (its body is what <c>--json</c> prints).</summary>
    public ApiResponse? Response { get; }

    /// <summary>The HTTP status.</summary>
    public int Status => Response?.Status ?? 0;

    /// <summary>The problem's <c>title</c>, or the reason phrase.</summary>
    public string Title { get; } = "";

    /// <summary>The problem's <c>detail</c>, or the start of a non-problem body.</summary>
    public string? Detail { get; }

    /// <summary>Reads the problem details of an error answer.</summary>
    public static ApiException From(ApiResponse response, string? reasonPhrase)
    {
        ArgumentNullException.ThrowIfNull(response);
        var json = response.Json;
        if (json.ValueKind == JsonValueKind.Object && (json.TryGetProperty("title", out _) || json.TryGetProperty("detail", out _)))
        {
            return new ApiException(response, CliJson.Text(json, "title") ?? reasonPhrase ?? "Error", CliJson.Text(json, "detail"));
        }

        var text = response.Body.Trim();
        return new ApiException(response, reasonPhrase ?? "Error", text.Length == 0 ? null : text[..Math.Min(text.Length, 500)]);
    }
}
