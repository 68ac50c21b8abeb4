namespace Iot.Streams.Aggregation;

/// <summary>
/// The open windows of one window kind over one partition, driven by <see cref="WindowEngine"/>: it adds every event it
/// accepts (with its time, moved to the watermark for a late event under <see cref="LatePolicy.Adjust"/>) and, each time
/// the watermark moves forward, asks for the windows the watermark has passed. A closed window is emitted once (not at all
/// when the suppress-until watermark of a restart had already closed it) and its state is removed then. Single-threaded.
/// </summary>
internal interface IOpenWindows
{
    /// <summary>Windows open (for sliding windows, events held).</summary>
    int Count { get; }

    /// <summary>The smallest record offset open state depends on; <see cref="long.MaxValue"/> when nothing is open.</summary>
    long LowOffset { get; }

    /// <summary>Adds an event at <paramref name="time"/> (Unix ms) to the open windows it belongs to.</summary>
    void Add(in WindowInput input, long time);

    /// <summary>Closes what <paramref name="watermark"/> has passed and adds the results to <paramref name="output"/>.</summary>
    void Close(long watermark, List<AggregateResult> output);
}
