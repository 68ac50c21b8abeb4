using Iot.Broker.Hosting.Audit;

namespace Iot.Broker.Tests.Hosting.Audit;

/// <summary>What every <see cref="IAuditLog"/> does; an implementation's tests inherit this class.</summary>
public abstract class AuditLogContractTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 7, 10, 0, 0, TimeSpan.Zero);

    /// <summary>A new, empty log.</summary>
    protected abstract IAuditLog Create();

    /// <summary>The same log as <see cref="Create"/> made last, opened again (as after a restart).</summary>
    protected abstract IAuditLog Reopen();

    [Fact]
    public async Task Append_AssignsIncreasingSequences_QueryReturnsNewestFirst()
    {
        var log = Create();
        var first = await log.AppendAsync(Entry(T0, "svc-1", "PUT /api/queues/{name}", "name=work"));
        var second = await log.AppendAsync(Entry(T0.AddSeconds(1), "svc-2", "DELETE /api/queues/{name}", "name=work", 204));
        Assert.True(second.Sequence > first.Sequence && first.Sequence > 0);

        var all = await log.QueryAsync(new AuditQuery());
        Assert.Equal([second, first], all);
    }

    [Fact]
    public async Task Query_FiltersByActorActionTimeAndPages()
    {
        var log = Create();
        for (int i = 0; i < 10; i++)
        {
            await log.AppendAsync(Entry(T0.AddMinutes(i), i % 2 == 0 ? "even" : "odd", i < 5 ? "POST /api/devices" : "DELETE /api/routes/{name}", $"n={i}"));
        }

        Assert.Equal(5, (await log.QueryAsync(new AuditQuery(Actor: "even"))).Count);
        Assert.All(await log.QueryAsync(new AuditQuery(ActionContains: "/api/routes")), e => Assert.StartsWith("DELETE", e.Action, StringComparison.Ordinal));
        var window = await log.QueryAsync(new AuditQuery(Since: T0.AddMinutes(2), Until: T0.AddMinutes(4)));
        Assert.Equal(["n=3", "n=2"], window.Select(e => e.Target));

        var page1 = await log.QueryAsync(new AuditQuery(Limit: 4));
        var page2 = await log.QueryAsync(new AuditQuery(Limit: 4, BeforeSequence: page1[^1].Sequence));
        Assert.Equal(["n=9", "n=8", "n=7", "n=6"], page1.Select(e => e.Target));
        Assert.Equal(["n=5", "n=4", "n=3", "n=2"], page2.Select(e => e.Target));
    }

    [Fact]
    public async Task Trim_DropsOlderThanTheCutoff_ThenTheOldestBeyondTheCount()
    {
        var log = Create();
        for (int i = 0; i < 10; i++)
        {
            await log.AppendAsync(Entry(T0.AddDays(i), "svc", "POST /api/devices", $"n={i}"));
        }

        Assert.Equal(3, await log.TrimAsync(T0.AddDays(3), maxEntries: 100));
        Assert.Equal(2, await log.TrimAsync(T0, maxEntries: 5));
        Assert.Equal(["n=9", "n=8", "n=7", "n=6", "n=5"], (await log.QueryAsync(new AuditQuery())).Select(e => e.Target));
    }

    [Fact]
    public async Task Appended_IsThereAfterReopening()
    {
        var appended = await Create().AppendAsync(Entry(T0, "svc", "POST /api/backups", "", 201, role: null, remote: null));
        Assert.Equal(appended, Assert.Single(await Reopen().QueryAsync(new AuditQuery())));
    }

    private static AuditEntry Entry(DateTimeOffset time, string actor, string action, string target, int status = 200, string? role = "service", string? remote = "127.0.0.1") =>
        new(0, time, actor, role, action, target, status, remote, "node-a");
}
