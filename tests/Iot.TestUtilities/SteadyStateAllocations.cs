namespace Iot.TestUtilities;

/// <summary>
/// What a loop allocates on the calling thread once warm: the loop runs once first (JIT tiering, lazy statics and
/// thread-static buffers allocate then), and then up to <c>attempts</c> times more; the least allocated is the answer.
/// A hot path that allocates per call allocates in every attempt, so an assertion of 0 still fails for it; a one-off
/// allocation of the runtime on a busy machine (a tier-up landing in the middle) does not fail the test.
/// </summary>
public static class SteadyStateAllocations
{
    public static long Of(Action iteration, int iterations = 1000, int attempts = 3)
    {
        ArgumentNullException.ThrowIfNull(iteration);
        for (var i = 0; i < iterations; i++)
        {
            iteration();
        }

        var least = long.MaxValue;
        for (var attempt = 0; attempt < attempts && least > 0; attempt++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < iterations; i++)
            {
                iteration();
            }

            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        return least;
    }
}
