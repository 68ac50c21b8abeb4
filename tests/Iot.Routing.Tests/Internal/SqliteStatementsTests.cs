using Iot.Routing.Internal;
using Microsoft.Data.Sqlite;

namespace Iot.Routing.Tests.Internal;

public sealed class SqliteStatementsTests : IDisposable
{
    private readonly SqliteConnection _connection = new("Data Source=:memory:");

    public SqliteStatementsTests()
    {
        _connection.Open();
        SqliteStatements.Get(_connection, "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)").ExecuteNonQuery();
    }

    public void Dispose() => _connection.Dispose();

    [Fact]
    public void TheSameSql_GivesTheSameCommand_WithoutTheLastCallsParameters()
    {
        var insert = SqliteStatements.Get(_connection, "INSERT INTO t(k, v) VALUES($k, $v)");
        insert.Parameters.AddWithValue("$k", 1);
        insert.Parameters.AddWithValue("$v", "one");
        insert.ExecuteNonQuery();

        var again = SqliteStatements.Get(_connection, "INSERT INTO t(k, v) VALUES($k, $v)");
        Assert.Same(insert, again);
        Assert.Empty(again.Parameters);
        again.Parameters.AddWithValue("$k", 2);
        again.Parameters.AddWithValue("$v", "two");
        again.ExecuteNonQuery();

        var select = SqliteStatements.Get(_connection, "SELECT group_concat(v, ',') FROM (SELECT v FROM t ORDER BY k)");
        Assert.Equal("one,two", select.ExecuteScalar());
    }

    [Fact]
    public void AReusedCommand_SeesTheRowsAsTheyAreAtEachRun()
    {
        var select = SqliteStatements.Get(_connection, "SELECT count(*) FROM t WHERE k > $k");
        for (var i = 0; i < 3; i++)
        {
            var command = SqliteStatements.Get(_connection, "SELECT count(*) FROM t WHERE k > $k");
            Assert.Same(select, command);
            command.Parameters.AddWithValue("$k", 0);
            Assert.Equal((long)i, command.ExecuteScalar());
            SqliteStatements.Get(_connection, "INSERT INTO t(v) VALUES('x')").ExecuteNonQuery();
        }
    }

    [Fact]
    public void TheCacheIsBounded_AndACommandStillInUse_KeepsWorkingWhenItIsEmptied()
    {
        var inUse = SqliteStatements.Get(_connection, "SELECT count(*) FROM t");
        for (var i = 0; i < SqliteStatements.MaxPerConnection + 10; i++)
        {
            SqliteStatements.Get(_connection, $"SELECT {i}").ExecuteScalar();
            Assert.InRange(SqliteStatements.Count(_connection), 1, SqliteStatements.MaxPerConnection);
        }

        Assert.Equal(0L, inUse.ExecuteScalar());
    }

    [Fact]
    public void EachConnection_HasItsOwnStatements()
    {
        using var other = new SqliteConnection("Data Source=:memory:");
        other.Open();
        var here = SqliteStatements.Get(_connection, "SELECT 1");
        var there = SqliteStatements.Get(other, "SELECT 1");
        Assert.NotSame(here, there);
        Assert.Same(other, there.Connection);
    }
}
