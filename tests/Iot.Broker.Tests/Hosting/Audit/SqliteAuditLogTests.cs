using Iot.Broker.Hosting.Audit;

namespace Iot.Broker.Tests.Hosting.Audit;

/// <summary>The audit log on SQLite (<c>audit.db</c>) under <see cref="AuditLogContractTests"/>.</summary>
public sealed class SqliteAuditLogTests : AuditLogContractTests, IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "iot-audit-" + Guid.NewGuid().ToString("N"));
    private readonly List<SqliteAuditLog> _open = [];
    private string? _last;

    protected override IAuditLog Create()
    {
        _last = Path.Combine(_root, Guid.NewGuid().ToString("N"));
        return Open(_last);
    }

    protected override IAuditLog Reopen()
    {
        foreach (var log in _open)
        {
            log.Dispose();
        }

        _open.Clear();
        return Open(_last!);
    }

    public void Dispose()
    {
        foreach (var log in _open)
        {
            log.Dispose();
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    private SqliteAuditLog Open(string directory)
    {
        var log = new SqliteAuditLog(directory);
        _open.Add(log);
        return log;
    }
}
