using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Iot.TestUtilities;

namespace Iot.Broker.IntegrationTests.Queues;

/// <summary>The queue HTTP API of a broker (<c>/api/queues</c>), as a script or a worker calls it.</summary>
internal sealed class QueueApi(Uri httpBase) : IDisposable
{
    private readonly HttpClient _http = new() { BaseAddress = httpBase, Timeout = TimeSpan.FromSeconds(150) };

    public async Task CreateAsync(string queue, string settings = "{}")
    {
        using var content = new StringContent(settings, Encoding.UTF8, "application/json");
        using var response = await _http.PutAsync(Path($"queues/{queue}"), content);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Sends <paramref name="body"/> (JSON) with the query string <paramref name="query"/> (starting with '?', or empty).</summary>
    public Task<(int Status, JsonElement Body)> TrySendAsync(string queue, string body, string query = "") =>
        PostAsync($"queues/{queue}/messages{query}", body);

    /// <summary>Sends and returns the message's sequence number; fails the test unless it was stored (201).</summary>
    public async Task<long> SendAsync(string queue, string body, string query = "")
    {
        var (status, answer) = await TrySendAsync(queue, body, query);
        Assert.True(status == 201, $"send to {queue}: {status} {answer}");
        return answer.GetProperty("sequenceNumber").GetInt64();
    }

    /// <summary>Receives (<c>messages:receive</c>) with the query <paramref name="query"/> (without '?').</summary>
    public async Task<JsonElement[]> ReceiveAsync(string queue, string query = "")
    {
        var (status, answer) = await PostAsync($"queues/{queue}/messages:receive?{query}", "");
        Assert.True(status == 200, $"receive from {queue}: {status} {answer}");
        return [.. answer.GetProperty("value").EnumerateArray()];
    }

    /// <summary>Receives until a message comes (long polls of a few seconds, which a scheduled message does not wake).</summary>
    public async Task<JsonElement> ReceiveOneAsync(string queue, string query, TimeSpan timeout)
    {
        var messages = await Eventually.WaitForAsync(async () => await ReceiveAsync(queue, query + (query.Length == 0 ? "" : "&") + "maxWaitTime=2"),
            received => received.Length > 0, timeout, $"a message from {queue}");
        return Assert.Single(messages);
    }

    public async Task<JsonElement> ReceiveDeferredAsync(string queue, params long[] sequenceNumbers)
    {
        var (status, answer) = await PostAsync($"queues/{queue}/messages:receiveDeferred", JsonSerializer.Serialize(new { sequenceNumbers }));
        Assert.True(status == 200, $"receiveDeferred from {queue}: {status} {answer}");
        return answer.GetProperty("value");
    }

    /// <summary>Settles by lock token (<c>complete</c>, <c>abandon</c>, <c>defer</c>, ...); fails the test unless every token succeeded.</summary>
    public async Task SettleAsync(string queue, string operation, params string[] lockTokens)
    {
        var (status, answer) = await PostAsync($"queues/{queue}/messages:{operation}", JsonSerializer.Serialize(new { lockTokens }));
        Assert.True(status == 200 && answer.GetProperty("failedLockTokens").GetArrayLength() == 0, $"{operation} in {queue}: {status} {answer}");
    }

    /// <summary>Accepts (locks) a session; returns its lock token.</summary>
    public async Task<string> AcceptSessionAsync(string queue, string sessionId)
    {
        var (status, answer) = await PostAsync($"queues/{queue}/sessions:accept?sessionId={Uri.EscapeDataString(sessionId)}", "");
        Assert.True(status == 200, $"accept session {sessionId} of {queue}: {status} {answer}");
        return answer.GetProperty("lockToken").GetString()!;
    }

    public async Task<int> CancelScheduledAsync(string queue, long sequenceNumber)
    {
        using var response = await _http.DeleteAsync(Path($"queues/{queue}/messages/{sequenceNumber}"));
        return (int)response.StatusCode;
    }

    public async Task<JsonElement> StatisticsAsync(string queue) =>
        (await _http.GetFromJsonAsync<JsonElement>(Path($"queues/{queue}"))).GetProperty("statistics");

    public async Task<JsonElement[]> PeekAsync(string queue) =>
        [.. (await _http.GetFromJsonAsync<JsonElement>(Path($"queues/{queue}/messages?maxMessages=100"))).GetProperty("value").EnumerateArray()];

    public async Task<(int Status, JsonElement Body)> PostAsync(string path, string json)
    {
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await _http.PostAsync(Path(path), content);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    public void Dispose() => _http.Dispose();

    private static Uri Path(string path) => new("api/" + path, UriKind.Relative);
}
