using System.Text;
using Iot.Broker.Security;
using Iot.Broker.Security.Identities;
using Iot.TestUtilities;

namespace Iot.Broker.Tests.Security;

public sealed class PasswordHashPoolTests : IDisposable
{
    private readonly RegistryScope _scope = new();
    private readonly ManualResetEventSlim _gate = new();

    [Fact]
    public async Task TryRun_QueueFull_IsRefusedAtOnce()
    {
        var pool = new PasswordHashPool(concurrency: 1, queue: 1);
        var running = pool.TryRunAsync(Block, 0, CancellationToken.None).AsTask();
        await Eventually.WaitUntilAsync(() => pool.Running == 1, TimeSpan.FromSeconds(10), "a verification running");
        var queued = pool.TryRunAsync(Block, 0, CancellationToken.None).AsTask();
        await Eventually.WaitUntilAsync(() => pool.Queued == 1, TimeSpan.FromSeconds(10), "a verification queued");

        var refused = await pool.TryRunAsync(Block, 0, CancellationToken.None);

        Assert.Null(refused);
        _gate.Set();
        Assert.True(await running);
        Assert.True(await queued);
        Assert.Equal(2, pool.Completed);
        Assert.Equal(0, pool.Running);
        Assert.Equal(0, pool.Queued);
    }

    [Fact]
    public async Task AuthenticatePassword_PoolFull_IsBusyButACachedPasswordStillSucceeds()
    {
        var pool = new PasswordHashPool(concurrency: 1, queue: 0);
        using var authenticator = new IdentityAuthenticator(_scope.Registry, pool);
        Assert.True(_scope.Registry.TryCreate("dev", IdentityRole.Device, out _, out var credentials));
        var password = Encoding.UTF8.GetBytes(credentials.Password);
        Assert.True((await authenticator.AuthenticatePasswordAsync("dev", password, CancellationToken.None)).Succeeded);
        var blocker = pool.TryRunAsync(Block, 0, CancellationToken.None).AsTask();
        await Eventually.WaitUntilAsync(() => pool.Running == 1, TimeSpan.FromSeconds(10), "a verification running");

        var cached = await authenticator.AuthenticatePasswordAsync("dev", password, CancellationToken.None);
        var uncached = await authenticator.AuthenticatePasswordAsync("dev", Encoding.UTF8.GetBytes("wrong"), CancellationToken.None);

        Assert.True(cached.Succeeded);
        Assert.True(authenticator.TryAuthenticateCached("dev", password, out _));
        Assert.True(uncached.ServerBusy);
        Assert.False(uncached.Succeeded);
        _gate.Set();
        await blocker;
    }

    public void Dispose()
    {
        _gate.Set();
        _gate.Dispose();
        _scope.Dispose();
    }

    private bool Block(int state) => _gate.Wait(TimeSpan.FromSeconds(30)) && state == 0;
}
