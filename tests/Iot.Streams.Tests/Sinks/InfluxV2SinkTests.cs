using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Iot.Messaging.Leases;
using Iot.Streams.Log;
using Iot.Streams.Sinks.Influx;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Streams.Tests.Sinks;

/// <summary>
/// The sink's InfluxDB 2.x path (<see cref="InfluxV2Writer"/> on InfluxDB.Client) against <see cref="InfluxV2TestServer"/>,
/// which answers as the InfluxDB 2 API documents; the theories also run against a real InfluxDB 2 when
/// <c>IOT_INFLUXDB2_URL</c> (with <c>_TOKEN</c>, <c>_ORG</c>, <c>_BUCKET</c>) names one. Error answers the test server
/// plays on cue (429, 503, a refused token, 413) run against it only. Retry delays run on a fake clock that records
/// each delay the sink waits.
/// </summary>
[Trait("Category", "Integration")]
#pragma warning disable CA1001 // Disposed by xunit through IAsyncLifetime.DisposeAsync.
public sealed class InfluxV2SinkTests : IAsyncLifetime
{
    // Recent, so a real bucket's retention keeps the points; whole seconds.
    private readonly DateTimeOffset _t0 = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeSeconds());
    private readonly TempDir _dir = new();
    private readonly string _stream = "s" + Guid.NewGuid().ToString("N")[..12];
    private readonly HttpClient _http = new() { Timeout = Timeout.InfiniteTimeSpan };
    private FileStreamStore _store = null!;

    public static TheoryData<string> Targets => InfluxV2Targets.Names;

    public Task InitializeAsync()
    {
        _store = new FileStreamStore(_dir.Path, _ => new SegmentLogOptions());
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _store.DisposeAsync();
        _dir.Dispose();
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public async Task Sink_Records_WrittenThroughTheClientAndCommittedAfterAcknowledgement(string targetName)
    {
        await using var target = await InfluxV2Targets.StartAsync(targetName);
        CreateStream(partitions: 2);
        await AppendAsync(0, 250);
        var sink = CreateSink(target, Options(target, batchSize: 100), TimeProvider.System);
        await sink.StartAsync(CancellationToken.None);
        try
        {
            await Poll.UntilAsync(async () => await target.CountAsync(_stream, "temperature") == 250, TimeSpan.FromSeconds(30), "250 points written");
            await Poll.UntilAsync(() => Committed(0) == 125 && Committed(1) == 125, TimeSpan.FromSeconds(10), "offsets committed");
            Assert.Equal(250, sink.PointsWritten);
            Assert.Equal(0, sink.PointsRejected);
            await Poll.UntilAsync(() => sink.Lag.RecordsBehind == 0, TimeSpan.FromSeconds(10), "no lag once committed");

            if (target.Server is { } server)
            {
                // The documented request: POST /api/v2/write?org=&bucket=&precision=ms, Authorization: Token, gzip.
                Assert.All(server.Requests, r =>
                {
                    Assert.Equal("/api/v2/write", r.Path);
                    Assert.Contains("org=acme", r.Query, StringComparison.Ordinal);
                    Assert.Contains("bucket=iot%2Fraw", r.Query, StringComparison.OrdinalIgnoreCase);
                    Assert.Contains("precision=ms", r.Query, StringComparison.Ordinal);
                    Assert.Equal("Token test-token", r.Authorization);
                    Assert.Equal("gzip", r.ContentEncoding);
                });
                Assert.Equal("3", server.Field(_stream, "key=dev-3", _t0.AddSeconds(3).ToUnixTimeMilliseconds() * 1_000_000, "temperature"));
            }
        }
        finally
        {
            await sink.StopAsync(CancellationToken.None);
        }
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public async Task Sink_FieldTypeConflict_BadPointCountedAndSkippedTheOthersWritten(string targetName)
    {
        await using var target = await InfluxV2Targets.StartAsync(targetName);
        // "mode" is a string field of the measurement; the stream's numeric "mode" conflicts with it.
        await target.WriteLineAsync($"{_stream},key=x mode=\"auto\" {_t0.ToUnixTimeMilliseconds()}");
        CreateStream(partitions: 1);
        await AppendAsync(0, 1, "\"temperature\":{0},\"mode\":1");
        await AppendAsync(1, 9);
        var sink = CreateSink(target, Options(target, batchSize: 10), TimeProvider.System);
        await sink.StartAsync(CancellationToken.None);
        try
        {
            await Poll.UntilAsync(() => sink.PointsRejected == 1 && Committed(0) == 10, TimeSpan.FromSeconds(30), "the conflicting point rejected, the batch committed");
            await Poll.UntilAsync(async () => await target.CountAsync(_stream, "temperature") == 9, TimeSpan.FromSeconds(30), "the 9 other points written");
            Assert.Equal(9, sink.PointsWritten);
            if (target.Server is { } server)
            {
                // InfluxDB said dropped=1: the other points are stored, so the batch is not written again.
                Assert.Equal(2, server.Requests.Count);
            }

            await AppendAsync(10, 5);
            await Poll.UntilAsync(async () => await target.CountAsync(_stream, "temperature") == 14, TimeSpan.FromSeconds(30), "later points still written");
            await Poll.UntilAsync(() => Committed(0) == 15, TimeSpan.FromSeconds(10), "offsets past the rejected point");
        }
        finally
        {
            await sink.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task Sink_BatchRejectedWholeForOneBadPoint_HalvesUntilOnlyTheBadPointIsLost()
    {
        await using var target = await InfluxV2Targets.StartAsync("test-server");
        var server = target.Server!;
        server.PartialWrites = false;
        await target.WriteLineAsync($"{_stream},key=x mode=\"auto\" {_t0.ToUnixTimeMilliseconds()}");
        CreateStream(partitions: 1);
        await AppendAsync(0, 5);
        await AppendAsync(5, 1, "\"temperature\":{0},\"mode\":1");
        await AppendAsync(6, 10);
        var sink = CreateSink(target, Options(target, batchSize: 16), TimeProvider.System);
        await sink.StartAsync(CancellationToken.None);
        try
        {
            await Poll.UntilAsync(() => Committed(0) == 16, TimeSpan.FromSeconds(30), "the batch committed");
            Assert.Equal(15, server.Count(_stream, "temperature"));
            Assert.Equal(15, sink.PointsWritten);
            Assert.Equal(1, sink.PointsRejected);
        }
        finally
        {
            await sink.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task AddInfluxSink_Version2_WritesThroughTheRegisteredClient()
    {
        await using var target = await InfluxV2Targets.StartAsync("test-server");
        await using var host = await Hosting.StreamsHost.StartAsync(_dir.Combine("host"), new Dictionary<string, string?>
        {
            ["Iot:Streams:Streams:0:Name"] = _stream,
            ["Iot:Streams:Streams:0:Partitions"] = "1",
            ["Iot:Influx:Enabled"] = "true",
            ["Iot:Influx:Version"] = "2",
            ["Iot:Influx:Url"] = target.Url.AbsoluteUri,
            ["Iot:Influx:Org"] = target.Org,
            ["Iot:Influx:Bucket"] = target.Bucket,
            ["Iot:Influx:Token"] = target.Token,
            ["Iot:Influx:Streams:0"] = _stream,
            ["Iot:Influx:FlushInterval"] = "00:00:00.050",
        });
        var store = host.App.Services.GetRequiredService<IStreamStore>();
        await store.GetPartition(_stream, 0).AppendAsync(new AppendRecord(_t0, "dev-1", "devices/dev-1/telemetry", """{"temperature":20}"""u8.ToArray()));

        await Poll.UntilAsync(() => target.Server!.Count(_stream, "temperature") == 1, TimeSpan.FromSeconds(30), "the point written through DI");
        Assert.Equal("Token test-token", target.Server!.Requests.First().Authorization);
    }

    [Fact]
    public async Task Sink_TokenRefused_RetriedAndNothingCommittedUntilTheServerTakesIt()
    {
        await using var target = await InfluxV2Targets.StartAsync("test-server");
        var server = target.Server!;
        var options = Options(target, batchSize: 20);
        server.Token = "another-token";
        CreateStream(partitions: 1);
        await AppendAsync(0, 20);
        var sink = CreateSink(target, options, TimeProvider.System);
        await sink.StartAsync(CancellationToken.None);
        try
        {
            await Poll.UntilAsync(() => sink.FailedWrites >= 3, TimeSpan.FromSeconds(30), "401 answers retried");
            Assert.Equal(0, Committed(0));
            Assert.Equal(0, sink.PointsWritten);
            Assert.Equal(0, sink.PointsRejected);
            Assert.Equal(20, sink.Lag.RecordsBehind);

            server.Token = options.Token!;
            await Poll.UntilAsync(() => Committed(0) == 20, TimeSpan.FromSeconds(30), "committed once the token is taken");
            Assert.Equal(20, server.Count(_stream, "temperature"));
            await Poll.UntilAsync(() => sink.Lag.RecordsBehind == 0, TimeSpan.FromSeconds(10), "no lag once committed");
        }
        finally
        {
            await sink.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task Sink_TooManyRequests_WaitsTheServersRetryAfter()
    {
        await using var target = await InfluxV2Targets.StartAsync("test-server");
        var server = target.Server!;
        server.ScriptedFailures.Enqueue((429, "7"));
        var time = new DelayRecordingTimeProvider();
        CreateStream(partitions: 1);
        await AppendAsync(0, 10);
        var sink = CreateSink(target, Options(target, batchSize: 10, minRetry: TimeSpan.FromSeconds(1)), time);
        await sink.StartAsync(CancellationToken.None);
        try
        {
            await time.WaitForDelayAsync(TimeSpan.FromSeconds(7));
            Assert.Single(server.Requests);
            Assert.Equal(0, Committed(0));
            Assert.Equal(1, sink.FailedWrites);

            time.Advance(TimeSpan.FromSeconds(7));
            await Poll.UntilAsync(() => Committed(0) == 10, TimeSpan.FromSeconds(30), "written after Retry-After");
            Assert.Equal(10, server.Count(_stream, "temperature"));
            Assert.Equal(2, server.Requests.Count);
        }
        finally
        {
            await sink.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task Sink_ServiceUnavailable_BacksOffExponentiallyOrAsToldAndCommitsOnlyAfterAcceptance()
    {
        await using var target = await InfluxV2Targets.StartAsync("test-server");
        var server = target.Server!;
        server.ScriptedFailures.Enqueue((503, null));
        server.ScriptedFailures.Enqueue((503, null));
        server.ScriptedFailures.Enqueue((503, "3"));
        var time = new DelayRecordingTimeProvider();
        CreateStream(partitions: 1);
        await AppendAsync(0, 10);
        var sink = CreateSink(target, Options(target, batchSize: 10, minRetry: TimeSpan.FromSeconds(1)), time);
        await sink.StartAsync(CancellationToken.None);
        try
        {
            // MinRetryDelay, doubled, then the server's Retry-After.
            var expected = new[] { TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(3) };
            for (var i = 0; i < expected.Length; i++)
            {
                await time.WaitForDelayAsync(expected[i]);
                Assert.Equal(0, Committed(0));
                Assert.Equal(0, server.Count(_stream, "temperature"));
                time.Advance(expected[i]);
            }

            await Poll.UntilAsync(() => Committed(0) == 10, TimeSpan.FromSeconds(30), "written once the server is back");
            Assert.Equal(10, server.Count(_stream, "temperature"));
            Assert.Equal(3, sink.FailedWrites);
        }
        finally
        {
            await sink.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task Sink_RequestTooLarge_BatchWrittenInPartsAndAnOversizedPointRejected()
    {
        await using var target = await InfluxV2Targets.StartAsync("test-server");
        var server = target.Server!;
        server.MaxBodyBytes = 400;
        CreateStream(partitions: 1);
        await AppendAsync(0, 10);
        var wide = string.Join(",", Enumerable.Range(0, 40).Select(i => $"\"field{i}\":{i}"));
        await AppendAsync(10, 1, "\"temperature\":{0}," + wide);
        await AppendAsync(11, 9);
        var sink = CreateSink(target, Options(target, batchSize: 20), TimeProvider.System);
        await sink.StartAsync(CancellationToken.None);
        try
        {
            await Poll.UntilAsync(() => Committed(0) == 20, TimeSpan.FromSeconds(30), "the batch committed");
            Assert.Equal(19, server.Count(_stream, "temperature"));
            Assert.Equal(19, sink.PointsWritten);
            Assert.Equal(1, sink.PointsRejected);
            // The whole batch first (413), then halves until each part fits.
            Assert.Equal(20, server.Requests.First().Body.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
            Assert.True(server.Requests.Count > 3, $"{server.Requests.Count} requests");
        }
        finally
        {
            await sink.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task Lag_WhileInfluxRefusesWrites_GrowsOnTheClockAndClearsAfterCatchUp()
    {
        await using var target = await InfluxV2Targets.StartAsync("test-server");
        var server = target.Server!;
        var options = Options(target, batchSize: 10, minRetry: TimeSpan.FromSeconds(1));
        server.Token = "another-token";
        var time = new DelayRecordingTimeProvider();
        CreateStream(partitions: 1);
        var sink = CreateSink(target, options, time);
        await sink.StartAsync(CancellationToken.None);
        try
        {
            Assert.Equal(new InfluxSinkLag(0, TimeSpan.Zero, null), sink.Lag);
            await AppendAsync(0, 10);
            // The records may arrive in more than one read: the partial batch's flush interval runs on the fake clock.
            await Poll.UntilAsync(() =>
            {
                time.Advance(options.FlushInterval);
                return sink.FailedWrites >= 1;
            }, TimeSpan.FromSeconds(30), "the first write refused");
            time.Advance(TimeSpan.FromMinutes(10));
            var lag = sink.Lag;
            Assert.Equal(10, lag.RecordsBehind);
            Assert.True(lag.WaitingFor >= TimeSpan.FromMinutes(10), $"waiting {lag.WaitingFor}");
            Assert.Null(lag.LastWriteAt);

            server.Token = options.Token!;
            await Poll.UntilAsync(() =>
            {
                time.Advance(options.MaxRetryDelay);
                return Committed(0) == 10 && sink.Lag.RecordsBehind == 0;
            }, TimeSpan.FromSeconds(30), "caught up once the token is taken");
            lag = sink.Lag;
            Assert.Equal(0, lag.RecordsBehind);
            Assert.Equal(TimeSpan.Zero, lag.WaitingFor);
            Assert.NotNull(lag.LastWriteAt);
        }
        finally
        {
            await sink.StopAsync(CancellationToken.None);
        }
    }

    private InfluxSinkOptions Options(IInfluxV2Target target, int batchSize, TimeSpan? minRetry = null) => new()
    {
        Enabled = true,
        Version = 2,
        Url = target.Url,
        Org = target.Org,
        Bucket = target.Bucket,
        Token = target.Token,
        Streams = [_stream],
        BatchSize = batchSize,
        FlushInterval = TimeSpan.FromMilliseconds(50),
        MinRetryDelay = minRetry ?? TimeSpan.FromMilliseconds(50),
        MaxRetryDelay = minRetry is null ? TimeSpan.FromMilliseconds(400) : TimeSpan.FromSeconds(30),
        RequestTimeout = TimeSpan.FromSeconds(5),
    };

    private InfluxSinkService CreateSink(IInfluxV2Target target, InfluxSinkOptions options, TimeProvider time) =>
        new(_store, new InfluxV2Writer(_http, options), Microsoft.Extensions.Options.Options.Create(options), time, LocalSingletonLeases.Instance,
            NullLogger<InfluxSinkService>.Instance);

    private void CreateStream(int partitions) => _store.TryCreate(new StreamDefinition { Name = _stream, Partitions = partitions }, out _);

    private async Task AppendAsync(int from, int count, string body = "\"temperature\":{0},\"humidity\":50")
    {
        var partitions = _store.Find(_stream)!.Partitions;
        for (int i = from; i < from + count; i++)
        {
            var device = $"dev-{i % 10}";
            var payload = "{" + string.Format(CultureInfo.InvariantCulture, body, i) + $",\"ts\":{_t0.AddSeconds(i).ToUnixTimeMilliseconds()}}}";
            await _store.GetPartition(_stream, i % partitions).AppendAsync(new AppendRecord(_t0.AddSeconds(i), device, $"devices/{device}/telemetry", Encoding.UTF8.GetBytes(payload)));
        }
    }

    private long Committed(int partition) => _store.GetGroups(_stream).GetCommitted(InfluxSinkService.GroupName, partition)?.Offset ?? 0;

    /// <summary>A fake clock that records the due time of every timer (the sink's retry delays) as it is created.</summary>
    private sealed class DelayRecordingTimeProvider : FakeTimeProvider
    {
        private readonly ConcurrentQueue<TimeSpan> _delays = new();

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            _delays.Enqueue(dueTime);
            return base.CreateTimer(callback, state, dueTime, period);
        }

        /// <summary>Waits until a timer of exactly <paramref name="expected"/> exists (the sink waits that long).</summary>
        public Task WaitForDelayAsync(TimeSpan expected) =>
            Poll.UntilAsync(() => _delays.Contains(expected), TimeSpan.FromSeconds(30), $"a delay of {expected} (seen: {string.Join(", ", _delays)})");
    }
}
#pragma warning restore CA1001
