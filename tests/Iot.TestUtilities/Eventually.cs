using System.Globalization;

namespace Iot.TestUtilities;

/// <summary>Polls a condition until it holds or a deadline passes; the way to wait for an outcome without a fixed sleep.</summary>
public static class Eventually
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    /// <summary>Waits until <paramref name="condition"/> returns true.</summary>
    /// <exception cref="TimeoutException">The condition still failed at the deadline; the message says what was awaited.</exception>
    public static Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string? because = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        return WaitUntilAsync(() => Task.FromResult(condition()), timeout, because, cancellationToken);
    }

    /// <summary>Waits until <paramref name="condition"/> completes with true; exceptions from the condition end the wait.</summary>
    /// <exception cref="TimeoutException">The condition still failed at the deadline; the message says what was awaited.</exception>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string? because = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var deadline = TimeProvider.System.GetTimestamp() + (long)(timeout.TotalSeconds * TimeProvider.System.TimestampFrequency);
        var attempts = 0;
        while (true)
        {
            attempts++;
            if (await condition())
            {
                return;
            }

            if (TimeProvider.System.GetTimestamp() >= deadline)
            {
                throw new TimeoutException(string.Create(CultureInfo.InvariantCulture,
                    $"Condition not met within {timeout.TotalSeconds} s ({attempts} attempts): {because ?? "(no description)"}"));
            }

            await Task.Delay(PollInterval, cancellationToken);
        }
    }

    /// <summary>Polls <paramref name="probe"/> until its value satisfies <paramref name="accept"/> and returns that value.</summary>
    /// <exception cref="TimeoutException">No accepted value before the deadline; the message shows the last value.</exception>
    public static async Task<T> WaitForAsync<T>(Func<Task<T>> probe, Func<T, bool> accept, TimeSpan timeout, string? because = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(probe);
        ArgumentNullException.ThrowIfNull(accept);
        T last = default!;
        try
        {
            await WaitUntilAsync(async () => accept(last = await probe()), timeout, because, cancellationToken);
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message}; last value: {last}", ex);
        }

        return last;
    }
}
