using Iot.Routing.Internal;
using Iot.Routing.Queues;
using Microsoft.Data.Sqlite;

namespace Iot.Routing.Commands;

/// <summary>
/// <see cref="ICommandStore"/> on SQLite: the <c>commands</c> table of <c>queues.db</c>, written on the queue store's
/// group-commit loop, so that a command's record and its queue message are written in one transaction and neither
/// exists without the other.
/// </summary>
internal sealed class SqliteCommandStore(SqliteQueueStore queues, CrashPoints crashPoints) : ICommandStore
{
    /// <summary>The store on <paramref name="queues"/>'s file and loop.</summary>
    public SqliteCommandStore(SqliteQueueStore queues)
        : this(queues, CrashPoints.None)
    {
    }

    private const string Columns =
        "command_id, device_id, name, message_id, seq, status, delivery_count, created_at, updated_at, expires_at, reply_queue, reply_session_id, answer, answer_content_type, reason, description";

    /// <summary>
    /// The <c>commands</c> table, part of the queue store's schema (<see cref="SqliteQueueStore.Schema"/>) since the
    /// records share the file and transactions of the queue messages.
    /// </summary>
    internal const string Schema = """
        CREATE TABLE IF NOT EXISTS commands(
            command_id TEXT PRIMARY KEY,
            device_id TEXT NOT NULL,
            name TEXT NOT NULL,
            message_id TEXT NOT NULL,
            seq INTEGER NULL,
            status INTEGER NOT NULL,
            delivery_count INTEGER NOT NULL DEFAULT 0,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            reply_queue TEXT NULL,
            reply_session_id TEXT NULL,
            answer BLOB NULL,
            answer_content_type TEXT NULL,
            reason TEXT NULL,
            description TEXT NULL);
        CREATE INDEX IF NOT EXISTS ix_commands_message ON commands(device_id, message_id, created_at);
        """;

    /// <inheritdoc/>
    public async Task<(CommandRecord Record, bool Duplicate)> CreateAsync(CommandRecord record, long duplicatesSince, Func<CommandRecord, QueueMessage> messageFor)
    {
        var result = await Run(connection =>
        {
            var existing = Query(connection, $"SELECT {Columns} FROM commands WHERE device_id = $d AND message_id = $m AND created_at > $c ORDER BY created_at DESC LIMIT 1",
                ("$d", record.DeviceId), ("$m", record.MessageId), ("$c", duplicatesSince));
            if (existing.Count > 0 && existing[0].SequenceNumber is not null)
            {
                return (existing[0], true);
            }

            var target = existing.Count > 0 ? existing[0] : record;
            var seq = queues.PrepareSend(CommandService.QueueName, [messageFor(target)], detectDuplicates: false).Insert(connection)[0].SequenceNumber;
            crashPoints.Reached(CrashPoints.CommandMessageWritten);
            if (existing.Count > 0)
            {
                var completed = existing[0] with
                {
                    SequenceNumber = seq, Status = CommandStatus.Queued, Reason = null, Description = null,
                    UpdatedAt = record.UpdatedAt, ExpiresAt = record.ExpiresAt,
                };
                NonQuery(connection, """
                    UPDATE commands SET seq = $s, status = $st, reason = NULL, description = NULL, updated_at = $u, expires_at = $e
                    WHERE command_id = $c
                    """, ("$s", seq), ("$st", (int)CommandStatus.Queued), ("$u", completed.UpdatedAt), ("$e", completed.ExpiresAt),
                    ("$c", completed.CommandId));
                crashPoints.Reached(CrashPoints.CommandRecordWritten);
                return (completed, true);
            }

            var created = record with { SequenceNumber = seq };
            Insert(connection, created);
            crashPoints.Reached(CrashPoints.CommandRecordWritten);
            return (created, false);
        }).ConfigureAwait(false);
        queues.NotifyArrived(CommandService.QueueName);
        return result;
    }

    /// <inheritdoc/>
    public Task<(List<CommandRecord> Linked, List<CommandRecord> Incomplete)> RepairAsync(long now) => Run(connection =>
    {
        var linked = new List<CommandRecord>();
        var incomplete = new List<CommandRecord>();
        foreach (var record in Query(connection, $"SELECT {Columns} FROM commands WHERE seq IS NULL AND status < 2"))
        {
            if (Scalar(connection, "SELECT seq FROM queue_messages WHERE queue = $q AND session_id = $d AND message_id = $m ORDER BY seq DESC LIMIT 1",
                ("$q", CommandService.QueueName), ("$d", record.DeviceId), ("$m", record.MessageId)) is long seq)
            {
                NonQuery(connection, "UPDATE commands SET seq = $s WHERE command_id = $c", ("$s", seq), ("$c", record.CommandId));
                linked.Add(record with { SequenceNumber = seq });
            }
            else
            {
                NonQuery(connection, "UPDATE commands SET status = $st, reason = $r, description = $de, updated_at = $u WHERE command_id = $c",
                    ("$st", (int)CommandStatus.DeadLettered), ("$r", ICommandStore.IncompleteReason),
                    ("$de", "The command's message was not stored (a crash while the command was accepted): send it again with the same messageId."),
                    ("$u", now), ("$c", record.CommandId));
                incomplete.Add(record);
            }
        }

        return (linked, incomplete);
    });

    /// <inheritdoc/>
    public Task<CommandRecord> GetOrCreateAsync(CommandRecord record) => Run(connection =>
    {
        var existing = Query(connection, $"SELECT {Columns} FROM commands WHERE command_id = $c", ("$c", record.CommandId));
        if (existing.Count > 0)
        {
            return existing[0];
        }

        Insert(connection, record);
        return record;
    });

    /// <inheritdoc/>
    public Task<CommandRecord?> GetAsync(string commandId) => Run(connection =>
        Query(connection, $"SELECT {Columns} FROM commands WHERE command_id = $c", ("$c", commandId)).FirstOrDefault());

    /// <inheritdoc/>
    public Task<bool> SetDeliveredAsync(string commandId, int deliveryCount, long now) => Run(connection =>
        NonQuery(connection, "UPDATE commands SET status = $st, delivery_count = $n, updated_at = $u WHERE command_id = $c AND status < 2",
            ("$st", (int)CommandStatus.Delivered), ("$n", deliveryCount), ("$u", now), ("$c", commandId)) > 0);

    /// <inheritdoc/>
    public Task<bool> SetFinalAsync(string commandId, CommandStatus status, byte[]? answer, string? contentType, string? reason, string? description,
        int? deliveryCount, long now) => Run(connection =>
        NonQuery(connection, """
            UPDATE commands SET status = $st, answer = $a, answer_content_type = $ct, reason = $r, description = $d,
                delivery_count = COALESCE($n, delivery_count), updated_at = $u
            WHERE command_id = $c AND status < 2
            """,
            ("$st", (int)status), ("$a", answer), ("$ct", contentType), ("$r", reason), ("$d", description), ("$n", deliveryCount),
            ("$u", now), ("$c", commandId)) > 0);

    /// <inheritdoc/>
    public IPreparedReply PrepareReply(string queue, QueueMessage reply) =>
        new PreparedReply(queues.PrepareSend(queue, [reply], detectDuplicates: true));

    /// <inheritdoc/>
    public async Task<bool> AnswerAsync(string commandId, string deviceId, CommandStatus status, byte[] answer, string? contentType, long now,
        IPreparedReply? reply)
    {
        var send = reply is null ? null : ((PreparedReply)reply).Send;
        var answered = await Run(connection =>
        {
            // The delivery count is that of the command's queue message, still present: it is completed after the answer.
            if (NonQuery(connection, """
                UPDATE commands SET status = $st, answer = $a, answer_content_type = $ct, reason = NULL, description = NULL,
                    delivery_count = COALESCE((SELECT delivery_count FROM queue_messages WHERE seq = commands.seq), delivery_count), updated_at = $u
                WHERE command_id = $c AND device_id = $d AND status < 2
                """,
                ("$st", (int)status), ("$a", answer), ("$ct", contentType), ("$u", now), ("$c", commandId), ("$d", deviceId)) == 0)
            {
                return false;
            }

            crashPoints.Reached(CrashPoints.AnswerRecordWritten);
            if (send is not null)
            {
                send.Insert(connection);
                crashPoints.Reached(CrashPoints.AnswerReplyWritten);
            }

            return true;
        }).ConfigureAwait(false);
        if (answered && reply is not null)
        {
            queues.NotifyArrived(reply.Queue);
        }

        return answered;
    }

    /// <inheritdoc/>
    /// <remarks>Only this process writes <c>queues.db</c>: the service learns of every answer directly.</remarks>
    public async Task<CommandRecord?> WaitForFinalAsync(string commandId, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The wait ended.
        }

        return null;
    }

    private Task<T> Run<T>(Func<SqliteConnection, T> work) => queues.ExecuteAsync(work);

    private static void Insert(SqliteConnection connection, CommandRecord r) =>
        NonQuery(connection, $"INSERT INTO commands({Columns}) VALUES($c, $d, $n, $m, $s, $st, $dc, $ca, $ua, $e, $rq, $rs, $a, $act, $r, $de)",
            ("$c", r.CommandId), ("$d", r.DeviceId), ("$n", r.Name), ("$m", r.MessageId), ("$s", r.SequenceNumber), ("$st", (int)r.Status),
            ("$dc", r.DeliveryCount), ("$ca", r.CreatedAt), ("$ua", r.UpdatedAt), ("$e", r.ExpiresAt), ("$rq", r.ReplyQueue),
            ("$rs", r.ReplySessionId), ("$a", r.Answer), ("$act", r.AnswerContentType), ("$r", r.Reason), ("$de", r.Description));

    private static int NonQuery(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = SqliteStatements.Get(connection, sql);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = SqliteStatements.Get(connection, sql);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        var result = command.ExecuteScalar();
        return result is DBNull ? null : result;
    }

    private static List<CommandRecord> Query(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = SqliteStatements.Get(connection, sql);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        using var reader = command.ExecuteReader();
        var records = new List<CommandRecord>();
        while (reader.Read())
        {
            records.Add(new CommandRecord
            {
                CommandId = reader.GetString(0),
                DeviceId = reader.GetString(1),
                Name = reader.GetString(2),
                MessageId = reader.GetString(3),
                SequenceNumber = reader.IsDBNull(4) ? null : reader.GetInt64(4),
                Status = (CommandStatus)reader.GetInt32(5),
                DeliveryCount = reader.GetInt32(6),
                CreatedAt = reader.GetInt64(7),
                UpdatedAt = reader.GetInt64(8),
                ExpiresAt = reader.GetInt64(9),
                ReplyQueue = reader.IsDBNull(10) ? null : reader.GetString(10),
                ReplySessionId = reader.IsDBNull(11) ? null : reader.GetString(11),
                Answer = reader.IsDBNull(12) ? null : (byte[])reader.GetValue(12),
                AnswerContentType = reader.IsDBNull(13) ? null : reader.GetString(13),
                Reason = reader.IsDBNull(14) ? null : reader.GetString(14),
                Description = reader.IsDBNull(15) ? null : reader.GetString(15),
            });
        }

        return records;
    }

    private sealed class PreparedReply(SqliteQueueStore.PreparedSend send) : IPreparedReply
    {
        public SqliteQueueStore.PreparedSend Send => send;

        public string Queue => send.Queue;
    }
}
