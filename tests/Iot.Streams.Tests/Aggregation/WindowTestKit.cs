using System.Reactive.Concurrency;
using System.Reactive.Subjects;
using Iot.Streams.Aggregation;

namespace Iot.Streams.Tests.Aggregation;

/// <summary>
/// A window operator under a virtual clock (System.Reactive's <see cref="HistoricalScheduler"/>): events are pushed at
/// chosen virtual times and the clock is advanced explicitly, so idle ticks and watermarks are deterministic.
/// </summary>
internal sealed class WindowTestKit : IDisposable
{
    public static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly Subject<WindowInput> _input = new();
    private readonly IDisposable _subscription;
    private long _offset;

    public WindowTestKit(WindowDefinition definition, TimeSpan? idleTick = null, long suppressUntil = long.MinValue)
    {
        Engine = new WindowEngine(definition, suppressUntil);
        _subscription = _input.AggregateWindows(Engine, Scheduler, idleTick).Subscribe(Results.Add);
    }

    public HistoricalScheduler Scheduler { get; } = new(T0);

    public WindowEngine Engine { get; }

    public List<AggregateResult> Results { get; } = [];

    public static WindowDefinition Define(WindowKind kind, double sizeSeconds = 10, double toleranceSeconds = 0, double? hopSeconds = null,
        double gapSeconds = 5, LatePolicy late = LatePolicy.Drop) => new()
        {
            Name = "w",
            Kind = kind,
            Size = TimeSpan.FromSeconds(sizeSeconds),
            Hop = hopSeconds is { } hop ? TimeSpan.FromSeconds(hop) : null,
            Gap = TimeSpan.FromSeconds(gapSeconds),
            Tolerance = TimeSpan.FromSeconds(toleranceSeconds),
            LatePolicy = late,
            Fields = ["temperature"],
        };

    /// <summary>Pushes an event with event time T0 + <paramref name="seconds"/>.</summary>
    public void Event(double seconds, double temperature, string key = "dev-1") =>
        _input.OnNext(new WindowInput(key, (T0 + TimeSpan.FromSeconds(seconds)).ToUnixTimeMilliseconds(), _offset++, [temperature]));

    public void Watermark(double seconds)
    {
        lock (Engine.Gate)
        {
            var output = new List<AggregateResult>();
            Engine.AdvanceWatermark((T0 + TimeSpan.FromSeconds(seconds)).ToUnixTimeMilliseconds(), output);
            Results.AddRange(output);
        }
    }

    public static (double Start, double End) Span(AggregateResult result) => ((result.Start - T0).TotalSeconds, (result.End - T0).TotalSeconds);

    public static double Agg(AggregateResult result, string aggregate) => result.Fields["temperature"][aggregate];

    public void Dispose()
    {
        _subscription.Dispose();
        _input.Dispose();
    }
}
