namespace Iot.Messaging.Leases;

/// <summary>
/// Named leases that make a piece of work a singleton: in a cluster, the one node that holds a lease runs the work
/// (an aggregation window over a partition, an InfluxDB sink partition, a webhook delivery loop); when that node dies,
/// its lease expires and another node acquires it and resumes from the committed position. In one process every lease
/// is always held (<see cref="LocalSingletonLeases"/>).
/// </summary>
/// <remarks>
/// The holder renews its leases on its own; when a renewal fails for long enough that another node might take the
/// lease, <see cref="ISingletonLease.Lost"/> fires <em>before</em> that can happen, and the work must stop. A holder
/// that was paused (a long GC, a frozen VM) may still write once after the lease moved on: writes that matter carry
/// <see cref="ISingletonLease.FencingToken"/>, and the store refuses a token lower than one it has seen.
/// </remarks>
public interface ISingletonLeases
{
    /// <summary>Whether leases are exclusive across nodes (cluster mode); false when this process is the only one.</summary>
    bool IsClustered { get; }

    /// <summary>
    /// Takes the lease <paramref name="name"/> when nobody holds it, or when its holder stopped renewing it for longer than
    /// the lease duration; null when another node holds it (observed, not taken).
    /// </summary>
    /// <param name="name">The lease: a non-empty name, the same on every node for the same work (e.g. <c>aggregate.{window}.{partition}</c>).</param>
    /// <param name="cancellationToken">Cancels the attempt.</param>
    ValueTask<ISingletonLease?> TryAcquireAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Waits until this node holds the lease <paramref name="name"/> (trying again as the holder's lease would expire), then returns it.</summary>
    /// <param name="name">The lease.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    Task<ISingletonLease> AcquireAsync(string name, CancellationToken cancellationToken);
}

/// <summary>A lease this node holds: renewed in the background until disposed (released) or lost.</summary>
public interface ISingletonLease : IAsyncDisposable
{
    /// <summary>The lease's name.</summary>
    string Name { get; }

    /// <summary>
    /// Grows each time the lease changes hands (in a cluster: the key-value revision at which this node acquired it), so a
    /// store that remembers the highest token it accepted can refuse a former holder's late write. Constant in one process.
    /// </summary>
    long FencingToken { get; }

    /// <summary>Fires when the lease is lost (not renewed in time, or taken by another node) or released; the work must stop.</summary>
    CancellationToken Lost { get; }

    /// <summary>Whether this node still holds the lease (<see cref="Lost"/> has not fired).</summary>
    bool IsHeld { get; }
}

/// <summary>A write made under a lease that this node no longer holds was refused (fenced).</summary>
public sealed class LeaseLostException : Exception
{
    /// <summary>Creates the exception for the lease <paramref name="name"/>.</summary>
    public LeaseLostException(string name)
        : base($"The lease '{name}' is no longer held by this node: the write was refused.")
    {
        Name = name;
    }

    /// <summary>Creates the exception with no lease name.</summary>
    public LeaseLostException()
        : this(string.Empty)
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public LeaseLostException(string message, Exception innerException)
        : base(message, innerException)
    {
        Name = string.Empty;
    }

    /// <summary>The lease.</summary>
    public string Name { get; } = string.Empty;
}
