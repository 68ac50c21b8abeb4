namespace Iot.Messaging.Topics;

/// <summary>
/// A per-thread reusable array that the topic walks use as an explicit stack.
/// </summary>
/// <remarks>
/// Walking iteratively instead of recursively means a topic or filter with tens of thousands of levels
/// (legal up to 65 535 bytes) cannot overflow the thread's stack; reusing the array per thread keeps a
/// steady-state match allocation-free. Arrays that grew past <see cref="MaxRetainedCapacity"/> are dropped
/// rather than kept alive by every thread that once saw a pathological topic. Callers clear each slot as they
/// pop it, so a returned array never keeps tree nodes (and their values) alive.
/// </remarks>
/// <typeparam name="TFrame">The frame type of one walk.</typeparam>
internal static class FrameStack<TFrame>
    where TFrame : struct
{
    private const int InitialCapacity = 16;
    private const int MaxRetainedCapacity = 1024;

    [ThreadStatic]
    private static TFrame[]? _cached;

    /// <summary>Takes this thread's array, or a new one.</summary>
    public static TFrame[] Rent()
    {
        var stack = _cached;
        if (stack is null)
        {
            return new TFrame[InitialCapacity];
        }

        _cached = null;
        return stack;
    }

    /// <summary>Doubles the capacity of <paramref name="stack"/>.</summary>
    public static void Grow(ref TFrame[] stack) => Array.Resize(ref stack, stack.Length * 2);

    /// <summary>Gives an array whose slots have all been cleared back to this thread.</summary>
    public static void Return(TFrame[] stack)
    {
        if (stack.Length <= MaxRetainedCapacity)
        {
            _cached = stack;
        }
    }
}
