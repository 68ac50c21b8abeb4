using System.Collections.Concurrent;
using System.Text;
using Iot.Streams.Log;
using Iot.Streams.Log.JetStream;
using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Iot.Streams.Tests.Log.JetStream;

/// <summary>The append side of a partition against a real nats-server: order, acknowledgement before completion, limits.</summary>
[Trait("Category", "Integration")]
public sealed class JetStreamAppenderTests(SingleNatsServer server) : IClassFixture<SingleNatsServer>, IAsyncLifetime
{
    private readonly string _id = Guid.NewGuid().ToString("N")[..8];
    private readonly ConcurrentQueue<long> _acknowledged = new();
    private NatsConnection _connection = null!;

    private string Subject => $"t{_id}.p0";

    public async Task InitializeAsync()
    {
        _connection = server.Nats.CreateConnection();
        await _connection.ConnectAsync();
        var js = new NatsJSContext(_connection);
        await js.CreateStreamAsync(new StreamConfig($"T{_id}_P0", [Subject]) { Storage = StreamConfigStorage.Memory });
    }

    public async Task DisposeAsync() => await _connection.DisposeAsync();

    private async Task<JetStreamPublisher> PublisherAsync()
    {
        var publisher = new JetStreamPublisher(_connection, TimeSpan.FromSeconds(5), TimeProvider.System);
        await publisher.StartAsync(CancellationToken.None);
        return publisher;
    }

    private JetStreamAppender Appender(JetStreamPublisher publisher, string subject, long maxPayload = 1024 * 1024) =>
        new(publisher, $"T{_id}_P0", subject, "s", maxPayload, new JetStreamLogOptions { MaxInFlight = 8, QueueCapacity = 16 },
            _acknowledged.Enqueue, NullLogger.Instance);

    private static AppendRecord Record(int i, int payloadBytes = 8, string? key = "dev-1") =>
        new(DateTimeOffset.UnixEpoch.AddSeconds(i), key, "devices/dev-1/telemetry", Encoding.UTF8.GetBytes(new string('x', payloadBytes)));

    [Fact]
    public async Task AppendAsync_ManyAtOnce_OffsetsInOrderAndEachSequenceReportedBeforeItsAppendCompletes()
    {
        await using var publisher = await PublisherAsync();
        await using var appender = Appender(publisher, Subject);
        appender.Start();

        // More appends than the queue holds and the window allows: some wait for room.
        var appends = Enumerable.Range(0, 100).Select(i => appender.AppendAsync(Record(i), CancellationToken.None).AsTask()).ToList();
        for (var i = 0; i < appends.Count; i++)
        {
            var offset = await appends[i];
            Assert.Equal(i, offset);
            Assert.Contains(offset + 1, _acknowledged);
        }
    }

    [Fact]
    public async Task AppendAsync_OverTheLimits_ThrowsBeforeQueueing()
    {
        await using var publisher = await PublisherAsync();
        await using var appender = Appender(publisher, Subject, maxPayload: 2048);
        appender.Start();

        await Assert.ThrowsAsync<ArgumentException>(async () => await appender.AppendAsync(Record(0, payloadBytes: 1500), CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentException>(async () => await appender.AppendAsync(Record(0, key: new string('k', 1025)), CancellationToken.None));
        Assert.Equal(0, await appender.AppendAsync(Record(0), CancellationToken.None));
    }

    [Fact]
    public async Task AppendAsync_NoStreamOnTheSubject_FailsAndReportsNoSequence()
    {
        await using var publisher = await PublisherAsync();
        await using var appender = Appender(publisher, $"t{_id}.none");
        appender.Start();

        await Assert.ThrowsAnyAsync<Exception>(() => appender.AppendAsync(Record(0), CancellationToken.None).AsTask());
        Assert.Empty(_acknowledged);
    }

    [Fact]
    public async Task DisposeAsync_WithAppendsInFlight_ReturnsOnceEveryAppendIsAnswered()
    {
        await using var publisher = await PublisherAsync();
        var appender = Appender(publisher, Subject);
        appender.Start();

        var appends = Enumerable.Range(0, 12).Select(i => appender.AppendAsync(Record(i), CancellationToken.None).AsTask()).ToList();
        await appender.DisposeAsync();

        Assert.All(appends, append => Assert.True(append.IsCompletedSuccessfully));
        Assert.Equal(Enumerable.Range(0, 12).Select(i => (long)i), await Task.WhenAll(appends));
    }
}
