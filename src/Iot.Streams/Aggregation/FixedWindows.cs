namespace Iot.Streams.Aggregation;

/// <summary>
/// The open tumbling and hopping windows of one partition: one state per (key, window start), each event added to the
/// Size / Hop windows that contain it, and windows closed in order of their end once the watermark reaches it.
/// </summary>
internal sealed class FixedWindows : IOpenWindows
{
    private readonly WindowShape _shape;
    private readonly long _suppressUntil;
    private readonly Dictionary<(string Key, long Start), WindowState> _windows = [];
    private readonly PriorityQueue<(string Key, long Start), long> _windowEnds = new();

    /// <param name="shape">The window.</param>
    /// <param name="suppressUntil">Windows ending at or before this watermark were emitted before a restart: not again.</param>
    public FixedWindows(WindowShape shape, long suppressUntil)
    {
        _shape = shape;
        _suppressUntil = suppressUntil;
    }

    /// <inheritdoc/>
    public int Count => _windows.Count;

    /// <inheritdoc/>
    public long LowOffset
    {
        get
        {
            long low = long.MaxValue;
            foreach (var window in _windows.Values)
            {
                low = Math.Min(low, window.MinOffset);
            }

            return low;
        }
    }

    /// <inheritdoc/>
    public void Add(in WindowInput input, long time)
    {
        var size = _shape.Size;
        var hop = _shape.Hop;
        var lastStart = FloorDiv(time, hop) * hop;
        for (var start = lastStart; start > time - size; start -= hop)
        {
            if (!_windows.TryGetValue((input.Key, start), out var state))
            {
                _windows[(input.Key, start)] = state = _shape.NewState();
                _windowEnds.Enqueue((input.Key, start), start + size);
            }

            state.Add(input, time);
        }
    }

    /// <inheritdoc/>
    public void Close(long watermark, List<AggregateResult> output)
    {
        while (_windowEnds.TryPeek(out var window, out var end) && end <= watermark)
        {
            _windowEnds.Dequeue();
            if (_windows.Remove(window, out var state) && end > _suppressUntil)
            {
                output.Add(_shape.ToResult(window.Key, window.Start, end, state));
            }
        }
    }

    private static long FloorDiv(long value, long divisor) => value >= 0 ? value / divisor : ((value + 1) / divisor) - 1;
}
