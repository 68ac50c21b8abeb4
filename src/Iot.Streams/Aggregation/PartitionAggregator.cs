using System.Reactive.Concurrency;
using System.Reactive.Subjects;
using Iot.Streams.Log;

namespace Iot.Streams.Aggregation;

/// <summary>
/// One window definition over one partition: records go into an Rx pipeline (<see cref="WindowOperator"/>), results
/// collect until the consumer drains them together with the offset and watermark to commit.
/// </summary>
internal sealed class PartitionAggregator : IDisposable
{
    private readonly WindowDefinition _definition;
    private readonly WindowEngine _engine;
    private readonly Subject<WindowInput> _input = new();
    private readonly IDisposable _subscription;
    private readonly List<AggregateResult> _pending = [];
    private TaskCompletionSource _resultsReady = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public PartitionAggregator(WindowDefinition definition, long suppressUntil, IScheduler scheduler, TimeSpan idleTick)
    {
        _definition = definition;
        _engine = new WindowEngine(definition, suppressUntil);
        _subscription = _input.AggregateWindows(_engine, scheduler, definition.IdleAdvance ? idleTick : null).Subscribe(result =>
        {
            _pending.Add(result);
            _resultsReady.TrySetResult();
        });
    }

    /// <summary>Records whose payload was not a JSON object.</summary>
    public long InvalidRecords { get; private set; }

    /// <summary>The engine (tests and metrics).</summary>
    public WindowEngine Engine => _engine;

    /// <summary>The window definition.</summary>
    public WindowDefinition Definition => _definition;

    /// <summary>A consistent snapshot of the counters.</summary>
    public AggregationStatus Status(int partition)
    {
        lock (_engine.Gate)
        {
            return new AggregationStatus(_definition.Name, partition,
                _engine.Watermark == long.MinValue ? null : DateTimeOffset.FromUnixTimeMilliseconds(_engine.Watermark),
                _engine.OpenStates, _engine.DroppedLate, _engine.AdjustedLate, InvalidRecords);
        }
    }

    /// <summary>Feeds one record; false when its payload was not a JSON object (it is skipped).</summary>
    public bool OnRecord(StreamRecord record)
    {
        if (!RecordParser.TryParse(_definition, record, out var input))
        {
            InvalidRecords++;
            return false;
        }

        _input.OnNext(input);
        return true;
    }

    /// <summary>Completes when results are waiting (an idle tick closed windows).</summary>
    public Task WaitForResultsAsync()
    {
        lock (_engine.Gate)
        {
            return _pending.Count > 0 ? Task.CompletedTask : _resultsReady.Task;
        }
    }

    /// <summary>Takes the waiting results with the state to commit after publishing them.</summary>
    public (List<AggregateResult> Results, long? LowOffset, long Watermark) Drain()
    {
        lock (_engine.Gate)
        {
            var results = _pending.ToList();
            _pending.Clear();
            if (_resultsReady.Task.IsCompleted)
            {
                _resultsReady = new(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            return (results, _engine.LowOffset, _engine.Watermark);
        }
    }

    public void Dispose()
    {
        _subscription.Dispose();
        _input.Dispose();
    }
}
