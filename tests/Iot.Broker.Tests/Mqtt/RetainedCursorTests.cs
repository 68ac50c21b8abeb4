using Iot.Broker.Mqtt;
using Iot.Broker.Mqtt.Persistence;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Tests.Mqtt;

public sealed class RetainedCursorTests
{
    private readonly ManualTime _time = new();
    private readonly BrokerMetrics _metrics = new();
    private readonly MqttOptions _options = new();
    private readonly BrokerContext _context;
    private readonly RetainedMessages _retained;
    private readonly Subscription _subscription;

    public RetainedCursorTests()
    {
        _context = new BrokerContext(Options.Create(_options), new NoStore(), _metrics, _time);
        _retained = new RetainedMessages(_context);
        _subscription = new Subscription
        {
            Session = new MqttSession(_context, "subscriber"),
            Filter = "site/#",
            TopicFilter = "site/#",
            QualityOfService = 1,
            SubscriptionIdentifier = 7,
        };
    }

    [Fact]
    public void TryPeek_EveryMatch_InTurnUntilTheEnd()
    {
        Retain("site/a", "1");
        Retain("site/b", "2");
        var cursor = Open();

        var payloads = new List<string>();
        while (cursor.TryPeek(Now, out var message))
        {
            payloads.Add(Text(message));
            cursor.Advance();
        }

        Assert.Equal(["1", "2"], payloads.Order());
        Assert.Equal([7u], cursor.SubscriptionIdentifiers ?? []);
        Assert.Equal(0, cursor.Remaining);
        Assert.Equal(0, _metrics.RetainedPending);
    }

    [Fact]
    public void TryPeek_TopicReplacedAfterTheSnapshot_GivesTheCurrentMessage()
    {
        Retain("site/a", "old");
        var cursor = Open();
        Retain("site/a", "new");

        Assert.True(cursor.TryPeek(Now, out var message));
        Assert.Equal("new", Text(message));
    }

    [Fact]
    public void TryPeek_TopicClearedOrExpiredAfterTheSnapshot_IsPassedOver()
    {
        Retain("site/cleared", "x");
        Retain("site/expiring", "x", expiresAtUnixMs: Now + 1000);
        var cursor = Open();
        Assert.Equal(2, _metrics.RetainedPending);

        var none = default(DurableWrites);
        _retained.Apply(new BrokerMessage { Topic = "site/cleared", Payload = ReadOnlyMemory<byte>.Empty, Retain = true }, ref none);
        _time.Advance(TimeSpan.FromSeconds(2));

        Assert.False(cursor.TryPeek(Now, out _));
        Assert.Equal(0, cursor.Remaining);
        Assert.Equal(0, _metrics.RetainedPending);
    }

    [Fact]
    public void Cancel_WithMessagesLeft_TakesThemOffThePendingGauge()
    {
        for (var i = 0; i < 10; i++)
        {
            Retain($"site/{i}", "x");
        }

        var cursor = Open();
        Assert.True(cursor.TryPeek(Now, out _));
        cursor.Advance();
        Assert.Equal(9, _metrics.RetainedPending);

        cursor.Cancel();

        Assert.Equal(0, cursor.Remaining);
        Assert.Equal(0, _metrics.RetainedPending);
        Assert.False(cursor.TryPeek(Now, out _));
    }

    [Fact]
    public void OpenCursor_MoreMatchesThanMaxRetainedPerSubscribe_KeepsTheLimitAndCountsTheHit()
    {
        _options.MaxRetainedPerSubscribe = 3;
        for (var i = 0; i < 5; i++)
        {
            Retain($"site/{i}", "x");
        }

        var cursor = Open();

        Assert.Equal(3, cursor.Remaining);
        Assert.Equal(1, _metrics.LimitHits(LimitKind.MaxRetainedPerSubscribe));
    }

    [Fact]
    public void OpenCursor_NoMatch_IsNull() =>
        Assert.Null(_retained.OpenCursor(_subscription, connection: null!));

    private long Now => _context.NowUnixMs;

    // The cursor only remembers its connection (the session compares it); these tests never get that far.
    private RetainedCursor Open() => _retained.OpenCursor(_subscription, connection: null!) ?? throw new InvalidOperationException("no match");

    private void Retain(string topic, string payload, long expiresAtUnixMs = 0)
    {
        var none = default(DurableWrites);
        _retained.Apply(new BrokerMessage { Topic = topic, Payload = System.Text.Encoding.UTF8.GetBytes(payload), QualityOfService = 1, Retain = true, ExpiresAtUnixMs = expiresAtUnixMs }, ref none);
    }

    private static string Text(BrokerMessage message) => System.Text.Encoding.UTF8.GetString(message.Payload.Span);
}
