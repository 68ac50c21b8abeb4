using System.Collections.Concurrent;
using Iot.Messaging;

namespace Iot.Routing.IntegrationTests;

/// <summary>A unique directory under the temp directory, deleted on dispose.</summary>
internal sealed class TestDirectory : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"iot-routing-it-{Guid.NewGuid():N}");

    public TestDirectory() => Directory.CreateDirectory(Path);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp directory must not fail the test.
        }
    }
}

/// <summary>Polls a condition until it holds or a deadline passes.</summary>
internal static class Eventually
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(20);

    public static async Task WaitUntilAsync(Func<Task<bool>> condition, string because, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("Timed out waiting until " + because);
            }

            await Task.Delay(25);
        }
    }

    public static Task WaitUntilAsync(Func<bool> condition, string because, TimeSpan? timeout = null) =>
        WaitUntilAsync(() => Task.FromResult(condition()), because, timeout);
}

/// <summary>Stands in for the broker's <see cref="IMqttPublisher"/>: records what the routing layer publishes.</summary>
internal sealed class RecordingMqttPublisher : IMqttPublisher
{
    public ConcurrentQueue<(string Topic, byte[] Payload, byte Qos, string? ContentType)> Published { get; } = new();

    public Task PublishAsync(string topic, ReadOnlyMemory<byte> payload, byte qualityOfService, bool retain,
        IReadOnlyList<KeyValuePair<string, string>>? userProperties = null, string? contentType = null,
        CancellationToken cancellationToken = default)
    {
        Published.Enqueue((topic, payload.ToArray(), qualityOfService, contentType));
        return Task.CompletedTask;
    }
}
