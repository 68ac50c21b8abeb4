namespace Iot.Messaging.Leases;

/// <summary>
/// The single-process <see cref="ISingletonLeases"/>: this process is the only node, so every lease is held at once,
/// never lost, and its fencing token is constant (<see cref="FencingToken"/>). Registered unless cluster mode replaces it.
/// </summary>
public sealed class LocalSingletonLeases : ISingletonLeases
{
    /// <summary>The fencing token of every local lease.</summary>
    public const long FencingToken = 0;

    /// <summary>The one instance (it has no state).</summary>
    public static LocalSingletonLeases Instance { get; } = new();

    /// <inheritdoc/>
    public bool IsClustered => false;

    /// <inheritdoc/>
    public ValueTask<ISingletonLease?> TryAcquireAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return new(new LocalLease(name));
    }

    /// <inheritdoc/>
    public Task<ISingletonLease> AcquireAsync(string name, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult<ISingletonLease>(new LocalLease(name));
    }

    private sealed class LocalLease(string name) : ISingletonLease
    {
        public string Name => name;

        public long FencingToken => LocalSingletonLeases.FencingToken;

        public CancellationToken Lost => CancellationToken.None;

        public bool IsHeld => true;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
