using Iot.Routing.Tests.Internal;
using Microsoft.Data.Sqlite;

namespace Iot.Routing.IntegrationTests;

/// <summary>
/// A data directory written by a version before the stores kept schema versions (<c>queues.db</c> then also carried
/// the routing store's tables): the host starts on it and its routes, queued messages and commands are all there,
/// read back through the HTTP API.
/// </summary>
[Trait("Category", "Integration")]
public sealed class StorageUpgradeTests : IDisposable
{
    private readonly TestDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task Start_OnFilesOfTheEarlierLayout_RoutesQueuesAndCommandsSurvive()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Write("routing.db", LegacyLayouts.RoutingTables + """
            INSERT INTO routes VALUES('hot', '{"name":"hot","source":"devices/+/telemetry"}');
            """);
        Write("queues.db", LegacyLayouts.QueueTables + LegacyLayouts.RoutingTables + $$"""
            INSERT INTO queues VALUES('orders', '{"name":"orders","maxDeliveryCount":5}');
            INSERT INTO queues VALUES('$commands', '{"name":"$commands","requiresSession":true}');
            INSERT INTO queue_messages(queue, message_id, priority, state, enqueued_at, visible_at, expires_at, body)
                VALUES('orders', 'o-1', 0, 0, {{now}}, {{now}}, 9223372036854775807, CAST('{"item":"bolt"}' AS BLOB));
            INSERT INTO queue_messages(queue, message_id, session_id, priority, state, enqueued_at, visible_at, expires_at, body)
                VALUES('$commands', 'm-1', 'dev-1', 0, 0, {{now}}, {{now}}, {{now + 3_600_000}}, CAST('{}' AS BLOB));
            INSERT INTO commands(command_id, device_id, name, message_id, seq, status, created_at, updated_at, expires_at)
                VALUES('c-1', 'dev-1', 'reboot', 'm-1', 2, 0, {{now}}, {{now}}, {{now + 3_600_000}});
            """);

        await using (var host = await RoutingTestHost.StartAsync(_directory.Path))
        {
            await AssertDataServedAsync(host);
        }

        // queues.db lost the routing tables it used to carry (they were empty); routing.db kept them.
        Assert.DoesNotContain("deliveries", Tables("queues.db"));
        Assert.Contains("deliveries", Tables("routing.db"));
    }

    private static async Task AssertDataServedAsync(RoutingTestHost host)
    {
        Assert.Equal("devices/+/telemetry", (await host.GetJsonAsync("routes/hot")).GetProperty("source").GetString());
        Assert.Equal(5, (await host.GetJsonAsync("queues/orders")).GetProperty("queue").GetProperty("maxDeliveryCount").GetInt32());
        var (status, received) = await host.PostJsonAsync("queues/orders/messages:receive", "");
        Assert.Equal(200, status);
        var message = Assert.Single(received.GetProperty("value").EnumerateArray());
        Assert.Equal(("o-1", "bolt"), (message.GetProperty("messageId").GetString(), message.GetProperty("body").GetProperty("item").GetString()));
        var command = await host.GetJsonAsync("commands/c-1");
        Assert.Equal("Queued", command.GetProperty("status").GetString());
        // A retry with the old command's messageId finds it: duplicate detection reads the migrated records.
        (status, var duplicate) = await host.PostJsonAsync("devices/dev-1/commands/reboot?messageId=m-1", "{}");
        Assert.Equal("c-1", duplicate.GetProperty("commandId").GetString());
        Assert.True(status is 200 or 202, $"status {status}: {duplicate.GetRawText()}");
    }

    private List<string> Tables(string file)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(_directory.Path, file),
            Mode = SqliteOpenMode.ReadOnly,
            Pooling = false,
        }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table'";
        using var reader = command.ExecuteReader();
        var tables = new List<string>();
        while (reader.Read())
        {
            tables.Add(reader.GetString(0));
        }

        return tables;
    }

    private void Write(string file, string sql)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(_directory.Path, file),
            Pooling = false,
        }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
