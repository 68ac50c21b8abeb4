using Iot.Broker.Mqtt;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using MQTTnet.Protocol;

namespace Iot.Broker.Tests.Mqtt;

/// <summary>Issue 16, finding 8: refused connections are logged at Debug and summed up once per interval.</summary>
public sealed class ConnectionRefusalsTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(60);

    [Fact]
    public void Add_LogsEachAtDebug_AndOneInformationSummaryPerInterval()
    {
        var time = new FakeTimeProvider();
        var log = new CapturingLogger();
        var refusals = new ConnectionRefusals(log, time, Interval);

        for (var i = 0; i < 3; i++)
        {
            refusals.Add(MqttConnectReasonCode.BadUserNameOrPassword, $"c{i}", "authentication failed");
        }

        refusals.Add(MqttConnectReasonCode.MalformedPacket, "c9", "malformed CONNECT");
        Assert.Equal(4, log.Entries.Count(e => e.Level == LogLevel.Debug && e.EventId == 1012));
        Assert.DoesNotContain(log.Entries, e => e.Level >= LogLevel.Information);

        time.Advance(Interval - TimeSpan.FromSeconds(1));
        Assert.DoesNotContain(log.Entries, e => e.Level >= LogLevel.Information);

        time.Advance(TimeSpan.FromSeconds(1));
        var summary = Assert.Single(log.Entries, e => e.Level == LogLevel.Information);
        Assert.Equal(1171, summary.EventId);
        Assert.Contains("Refused 4 connections in the last 60 s", summary.Message, StringComparison.Ordinal);
        Assert.Contains("MalformedPacket 1", summary.Message, StringComparison.Ordinal);
        Assert.Contains("BadUserNameOrPassword 3", summary.Message, StringComparison.Ordinal);

        // A quiet interval writes nothing; the next refusal is summed up an interval later.
        time.Advance(Interval);
        time.Advance(Interval);
        Assert.Single(log.Entries, e => e.Level == LogLevel.Information);
        refusals.Add(MqttConnectReasonCode.NotAuthorized, "c10", "no credentials");
        time.Advance(Interval);
        var next = log.Entries.Where(e => e.Level == LogLevel.Information).Last();
        Assert.Contains("Refused 1 connections", next.Message, StringComparison.Ordinal);
        Assert.Contains("NotAuthorized 1", next.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Add_EscapesControlCharactersOfTheClientsDetail()
    {
        var log = new CapturingLogger();
        var refusals = new ConnectionRefusals(log, new FakeTimeProvider(), Interval);
        refusals.Add(MqttConnectReasonCode.MalformedPacket, "c1", "malformed CONNECT: protocol 'MQ\r\ninfo: forged\u001b[2J\u202e'");
        var entry = Assert.Single(log.Entries);
        Assert.DoesNotContain(entry.Message, c => c is '\r' or '\n' or '\u001b' or '\u202e');
        Assert.Contains("MQ\\r\\ninfo: forged\\x1b[2J\\u202e", entry.Message, StringComparison.Ordinal);
    }

    private sealed class CapturingLogger : ILogger
    {
        private readonly List<(LogLevel Level, int EventId, string Message)> _entries = [];

        public IReadOnlyList<(LogLevel Level, int EventId, string Message)> Entries
        {
            get
            {
                lock (_entries)
                {
                    return [.. _entries];
                }
            }
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (_entries)
            {
                _entries.Add((logLevel, eventId.Id, formatter(state, exception)));
            }
        }
    }
}
