using System.Net;
using System.Text.Json;

namespace Iot.Broker.IntegrationTests.Security;

/// <summary>Checks on HTTP API responses.</summary>
internal static class ApiAssert
{
    /// <summary>Asserts an RFC 7807 problem with <paramref name="status"/> and a non-empty detail; returns the detail.</summary>
    public static async Task<string> ProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"Expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(body);
        Assert.Equal((int)status, json.RootElement.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrWhiteSpace(json.RootElement.GetProperty("title").GetString()));
        var detail = json.RootElement.GetProperty("detail").GetString();
        Assert.False(string.IsNullOrWhiteSpace(detail));
        return detail!;
    }

    /// <summary>Asserts <paramref name="status"/> and parses the JSON body.</summary>
    public static async Task<JsonElement> JsonAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"Expected {(int)status}, got {(int)response.StatusCode}: {body}");
        using var json = JsonDocument.Parse(body);
        return json.RootElement.Clone();
    }
}
