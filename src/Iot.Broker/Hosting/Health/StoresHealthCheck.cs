using Iot.Broker.Hosting.Backup;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Hosting.Health;

/// <summary>
/// Readiness: each store of the data directory takes a durable write (<see cref="IDurableStore.ProbeWriteAsync"/>),
/// within <see cref="HealthOptions.StoreProbeTimeout"/>. The probes run at most once per
/// <see cref="HealthOptions.StoreProbeInterval"/>; requests in between get the last result, so that polling
/// <c>/healthz/ready</c> (open to anyone) cannot turn into a stream of disk writes.
/// </summary>
internal sealed class StoresHealthCheck(IEnumerable<IDurableStore> stores, IOptions<HealthOptions> options, TimeProvider timeProvider) : IHealthCheck, IDisposable
{
    private readonly IDurableStore[] _stores = [.. stores];
    private readonly SemaphoreSlim _probing = new(1, 1);
    private HealthCheckResult? _last;
    private long _lastAt;

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        await _probing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_last is { } last && timeProvider.GetElapsedTime(_lastAt) < options.Value.StoreProbeInterval)
            {
                return last;
            }

            _last = await ProbeAllAsync(cancellationToken).ConfigureAwait(false);
            _lastAt = timeProvider.GetTimestamp();
            return _last.Value;
        }
        finally
        {
            _probing.Release();
        }
    }

    public void Dispose() => _probing.Dispose();

    private async Task<HealthCheckResult> ProbeAllAsync(CancellationToken cancellationToken)
    {
        var data = new Dictionary<string, object>(StringComparer.Ordinal);
        var failures = new List<string>();
        foreach (var store in _stores)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.Value.StoreProbeTimeout);
            try
            {
                await store.ProbeWriteAsync(timeout.Token).WaitAsync(options.Value.StoreProbeTimeout, timeProvider, cancellationToken).ConfigureAwait(false);
                data[store.Name] = "ok";
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                var reason = ex is TimeoutException or OperationCanceledException ? $"no write within {options.Value.StoreProbeTimeout.TotalSeconds} s" : ex.Message;
                data[store.Name] = reason;
                failures.Add($"{store.Name}: {reason}");
            }
        }

        return failures.Count == 0
            ? HealthCheckResult.Healthy($"{_stores.Length} stores take writes", data)
            : HealthCheckResult.Unhealthy("a store cannot take a write: " + string.Join("; ", failures), data: data);
    }
}
