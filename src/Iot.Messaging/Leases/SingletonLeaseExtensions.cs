namespace Iot.Messaging.Leases;

/// <summary>Runs work only while a lease is held.</summary>
public static class SingletonLeaseExtensions
{
    /// <summary>
    /// Acquires <paramref name="name"/> (waiting while another node holds it), runs <paramref name="work"/> with a token
    /// that fires when the lease is lost or <paramref name="cancellationToken"/> fires, and when the lease was lost
    /// acquires it again; returns when the work returns or <paramref name="cancellationToken"/> fires. An exception of
    /// the work releases the lease (another node may take it) and is thrown.
    /// </summary>
    /// <param name="leases">The leases.</param>
    /// <param name="name">The lease.</param>
    /// <param name="work">The work: resumes from its committed position each time it is called, and stops when its token fires.</param>
    /// <param name="onLost">Called (when not null) each time the lease was lost while the work ran, before it is acquired again.</param>
    /// <param name="cancellationToken">Stops the work and waiting.</param>
    public static async Task RunWhileHeldAsync(this ISingletonLeases leases, string name, Func<ISingletonLease, CancellationToken, Task> work,
        Action<ISingletonLease>? onLost, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(leases);
        ArgumentNullException.ThrowIfNull(work);
        while (true)
        {
            var lease = await leases.AcquireAsync(name, cancellationToken).ConfigureAwait(false);
            await using (lease.ConfigureAwait(false))
            {
                using var running = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lease.Lost);
                try
                {
                    await work(lease, running.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is OperationCanceledException or LeaseLostException
                    && lease.Lost.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                {
                    // Lost while working: acquire again below (the work resumes from its committed position).
                }

                // A loop that ends quietly when its token fires has also lost the lease: only a return while the lease is held ends here.
                if (!lease.Lost.IsCancellationRequested || cancellationToken.IsCancellationRequested)
                {
                    return;
                }

                onLost?.Invoke(lease);
            }
        }
    }
}
