using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Iot.TestUtilities;

namespace Iot.Broker.IntegrationTests.Commands;

/// <summary>
/// The broker the command tests share: 3 deliveries at most, and an answer timeout far above what a test's device takes
/// to answer even on a busy machine, so that a slow answer never makes a second delivery (the tests count deliveries).
/// A test of the timeout itself starts its own broker with <see cref="ShortAnswerTimeoutArgs"/>.
/// </summary>
public sealed class CommandBrokerFixture() : BrokerFixture(["--Iot:Commands:AnswerTimeout=00:00:30", "--Iot:Commands:MaxDeliveryCount=3"])
{
    /// <summary>A 2 s answer timeout and 3 deliveries at most, so that an unanswered command dead-letters quickly.</summary>
    public static readonly string[] ShortAnswerTimeoutArgs = ["--Iot:Commands:AnswerTimeout=00:00:02", "--Iot:Commands:MaxDeliveryCount=3"];
}

/// <summary>The broker the command tests share.</summary>
[CollectionDefinition(Name)]
public sealed class CommandBroker : ICollectionFixture<CommandBrokerFixture>
{
    public const string Name = "Commands";
}

/// <summary>The command HTTP API of a broker.</summary>
internal sealed class CommandApi(Uri httpBase) : IDisposable
{
    private readonly HttpClient _http = new() { BaseAddress = httpBase, Timeout = TimeSpan.FromSeconds(60) };

    public async Task<(int Status, JsonElement Body, string? Location)> PostAsync(string deviceId, string name, string payload, string query = "")
    {
        using var content = new StringContent(payload, Encoding.UTF8, "application/json");
        using var response = await _http.PostAsync(new Uri($"api/devices/{deviceId}/commands/{name}{query}", UriKind.Relative), content);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return ((int)response.StatusCode, body, response.Headers.Location?.OriginalString);
    }

    public async Task<JsonElement> GetAsync(string commandId) =>
        await _http.GetFromJsonAsync<JsonElement>(new Uri($"api/commands/{commandId}", UriKind.Relative));

    public async Task<string> StatusAsync(string commandId) => (await GetAsync(commandId)).GetProperty("status").GetString()!;

    public Task<JsonElement> WaitForStatusAsync(string commandId, string status, TimeSpan timeout) =>
        Eventually.WaitForAsync(() => GetAsync(commandId), c => c.GetProperty("status").GetString() == status, timeout,
            $"command {commandId} reaches {status}");

    public void Dispose() => _http.Dispose();
}
