using System.Net.Http.Json;
using System.Text.Json;

namespace Iot.QueueBench;

/// <summary>
/// A queue of a running broker (or several brokers of one cluster) through its HTTP API, as a service uses it: each send
/// is <c>POST /api/queues/{name}/messages</c>, each receive <c>messages:receive</c> and each completion
/// <c>messages:complete</c>. Calls go round-robin over the broker addresses, so with a cluster a message is usually sent,
/// received and completed through different nodes.
/// </summary>
internal sealed class HttpQueueTarget : IQueueTarget, IAsyncDisposable
{
    private readonly HttpClient[] _nodes;
    private readonly string _queue;
    private int _next;

    private HttpQueueTarget(IReadOnlyList<Uri> bases, string queue)
    {
        _nodes = [.. bases.Select(b => new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = b, Timeout = TimeSpan.FromSeconds(60) })];
        _queue = queue;
    }

    public string Name => $"Iot HTTP queue API, {_nodes.Length} broker{(_nodes.Length == 1 ? "" : "s")}";

    /// <summary>Creates the queue (a fresh name per run) through the first broker.</summary>
    public static async Task<HttpQueueTarget> CreateAsync(string bases)
    {
        var target = new HttpQueueTarget([.. bases.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(b => new Uri(b.TrimEnd('/') + "/"))],
            "bench-" + Guid.NewGuid().ToString("N")[..8]);
        using var created = await target._nodes[0].PutAsJsonAsync(new Uri($"api/queues/{target._queue}", UriKind.Relative), new { });
        created.EnsureSuccessStatusCode();
        return target;
    }

    public async Task SendAsync(byte[] body)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new("application/octet-stream");
        using var response = await Node().PostAsync(new Uri($"api/queues/{_queue}/messages", UriKind.Relative), content);
        response.EnsureSuccessStatusCode();
    }

    public async Task<IReadOnlyList<object>> ReceiveAsync(int max)
    {
        using var response = await Node().PostAsync(new Uri($"api/queues/{_queue}/messages:receive?maxMessages={max}&maxWaitTime=1", UriKind.Relative), null);
        response.EnsureSuccessStatusCode();
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        return [.. json.GetProperty("value").EnumerateArray().Select(m => (object)m.GetProperty("lockToken").GetString()!)];
    }

    public async Task CompleteAsync(object message)
    {
        using var response = await Node().PostAsJsonAsync(new Uri($"api/queues/{_queue}/messages:complete", UriKind.Relative),
            new { lockTokens = new[] { (string)message } });
        response.EnsureSuccessStatusCode();
    }

    public ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            node.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    private HttpClient Node() => _nodes[(int)((uint)Interlocked.Increment(ref _next) % (uint)_nodes.Length)];
}
