using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text.Json;
using Iot.Routing.Commands;
using Iot.Routing.Internal;
using Iot.Routing.Rules;
using Microsoft.Data.Sqlite;

namespace Iot.Routing.Queues;

/// <summary>
/// <see cref="IQueueStore"/> on SQLite: <c>{dataDir}/queues.db</c> (opened by <see cref="SqliteDatabase"/>), every
/// operation on one <see cref="SqliteGroupCommit"/> loop (the operations waiting when it wakes share one transaction,
/// each under a savepoint). A task completes after <c>COMMIT</c>, so a crash loses no acknowledged send and revives no
/// completed message.
/// </summary>
/// <remarks>
/// One row per message; settling by lock token is one keyed update or delete. Time is read from the
/// <see cref="TimeProvider"/> when an operation is submitted. Command records share the file and the loop
/// (<see cref="SqliteCommandStore"/>), so that a command and its queue message commit together.
/// </remarks>
internal sealed partial class SqliteQueueStore : IQueueStore, IAsyncDisposable
{
    private const int MaxMessagesPerCall = 1000;
    private const long Never = long.MaxValue;
    private readonly SqliteGroupCommit _store;
    private readonly TimeProvider _timeProvider;
    private readonly ConcurrentDictionary<string, QueueProperties> _queues = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _arrivals = new(StringComparer.Ordinal);

    /// <summary>Opens (creating when needed) the queue database at <paramref name="path"/>.</summary>
    /// <param name="path">The database file, normally <c>{Iot:DataDir}/queues.db</c>.</param>
    /// <param name="timeProvider">The clock for locks, TTLs and schedules.</param>
    /// <param name="maxPendingOperations">Operations that may wait for the disk before callers wait (default 10 000).</param>
    /// <param name="commitDuration">Records the time of each group commit (<c>iot.routing.store.commit.duration</c>, store <c>queues</c>), if given.</param>
    public SqliteQueueStore(string path, TimeProvider timeProvider, int maxPendingOperations = 10_000, Histogram<double>? commitDuration = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(timeProvider);
        _timeProvider = timeProvider;
        Path = path;
        var connection = SqliteDatabase.Open(path, Schema);
        try
        {
            // The queue definitions are read before the loop takes the connection.
            ReadQueues(connection);
        }
        catch
        {
            connection.Dispose();
            throw;
        }

        _store = new SqliteGroupCommit(connection, maxPendingOperations, nameof(SqliteQueueStore), observer: null, commitDuration, "queues");
    }

    /// <summary>The database file.</summary>
    public string Path { get; }

    /// <summary>Queue definitions that could not be read when the store opened, as (queue name, reason).</summary>
    public List<(string Name, string Reason)> SkippedDefinitions { get; } = [];

    /// <inheritdoc/>
    public IReadOnlyList<QueueProperties> Queues => [.. _queues.Values.OrderBy(q => q.Name, StringComparer.Ordinal)];

    /// <inheritdoc/>
    public QueueProperties? FindQueue(string name) => name is not null && _queues.TryGetValue(name, out var queue) ? queue : null;

    /// <summary>Whether <paramref name="name"/> may name a queue created through the API (the platform's own start with <c>$</c>).</summary>
    public static bool IsValidQueueName(string? name) => RouteTable.IsValidName(name);

    /// <inheritdoc/>
    public async Task<bool> CreateOrUpdateQueueAsync(QueueProperties properties, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(properties);
        if (properties.Validate() is { } error)
        {
            throw new QueueException(QueueError.Invalid, error);
        }

        if (_queues.TryGetValue(properties.Name, out var existing) && existing.RequiresSession != properties.RequiresSession)
        {
            throw new QueueException(QueueError.Invalid, "requiresSession cannot change after the queue is created.");
        }

        var json = JsonSerializer.Serialize(properties, RoutingJson.Options);
        var created = await _store.ExecuteAsync(connection =>
            NonQuery(connection, "INSERT INTO queues(name, definition) VALUES($n, $d) ON CONFLICT(name) DO UPDATE SET definition = $d",
                ("$n", properties.Name), ("$d", json)) > 0 && existing is null).ConfigureAwait(false);
        _queues[properties.Name] = properties;
        return created;
    }

    /// <inheritdoc/>
    public async Task<bool> DeleteQueueAsync(string queue, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(queue);
        var deleted = await _store.ExecuteAsync(connection =>
        {
            NonQuery(connection, "DELETE FROM queue_messages WHERE queue = $q", ("$q", queue));
            NonQuery(connection, "DELETE FROM queue_duplicates WHERE queue = $q", ("$q", queue));
            NonQuery(connection, "DELETE FROM queue_sessions WHERE queue = $q", ("$q", queue));
            return NonQuery(connection, "DELETE FROM queues WHERE name = $q", ("$q", queue)) > 0;
        }).ConfigureAwait(false);
        _queues.TryRemove(queue, out _);
        return deleted;
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<SendResult>> SendAsync(string queue, IReadOnlyList<QueueMessage> messages, CancellationToken cancellationToken = default)
    {
        var results = await SendCoreAsync(queue, messages).ConfigureAwait(false);

        // Wake every long-polling receiver of the queue: one new waiter generation per send.
        NotifyArrived(queue);
        return results;
    }

    /// <inheritdoc/>
    public async Task<bool> WaitForMessagesAsync(string queue, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        GetQueue(queue);
        var arrived = _arrivals.GetOrAdd(queue, static _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        try
        {
            await arrived.Task.WaitAsync(timeout, _timeProvider, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private Task<IReadOnlyList<SendResult>> SendCoreAsync(string queue, IReadOnlyList<QueueMessage> messages)
    {
        var send = PrepareSend(queue, messages, detectDuplicates: true);
        return _store.ExecuteAsync(send.Insert);
    }

    /// <summary>
    /// Validates <paramref name="messages"/> for <paramref name="queue"/> on the caller's thread; the result inserts them
    /// on the store's connection, so that platform state in <c>queues.db</c> (a command record) can be written in the
    /// same transaction as its queue message.
    /// </summary>
    /// <param name="queue">The queue.</param>
    /// <param name="messages">The messages.</param>
    /// <param name="detectDuplicates">
    /// False when the caller does its own duplicate detection (commands: per device), so that the queue's window, which
    /// spans every session, does not take one device's message id for another's.
    /// </param>
    internal PreparedSend PrepareSend(string queue, IReadOnlyList<QueueMessage> messages, bool detectDuplicates)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var properties = GetQueue(queue);
        var now = Now();
        var rows = new List<PreparedRow>(messages.Count);
        foreach (var message in messages)
        {
            ArgumentNullException.ThrowIfNull(message);
            var rules = SendRules.For(queue, properties, message, now);
            rows.Add(new PreparedRow(message, rules.MessageId, rules.Tracked && detectDuplicates,
                rules.SessionId, rules.VisibleAt, rules.ExpiresAt, StoredProperties.Serialize(message)));
        }

        return new PreparedSend(queue, now, detectDuplicates ? (long)properties.DuplicateDetectionWindow.TotalMilliseconds : 0, rows);
    }

    /// <summary>Wakes the long-polling receivers of <paramref name="queue"/> after messages were committed.</summary>
    internal void NotifyArrived(string queue)
    {
        if (_arrivals.TryRemove(queue, out var arrived))
        {
            arrived.TrySetResult();
        }
    }

    internal sealed record PreparedRow(QueueMessage Message, string MessageId, bool Tracked, string? SessionId, long VisibleAt, long ExpiresAt,
        string? Properties);

    /// <summary>Messages validated for one queue, ready to be inserted inside a store operation.</summary>
    internal sealed class PreparedSend
    {
        private readonly string _queue;
        private readonly long _now;
        private readonly long _window;
        private readonly List<PreparedRow> _rows;

        internal PreparedSend(string queue, long now, long window, List<PreparedRow> rows)
        {
            _queue = queue;
            _now = now;
            _window = window;
            _rows = rows;
        }

        /// <summary>The queue the messages go to.</summary>
        public string Queue => _queue;

        /// <summary>Inserts the messages on <paramref name="connection"/> (inside the caller's transaction).</summary>
        public IReadOnlyList<SendResult> Insert(SqliteConnection connection)
        {
            var results = new SendResult[_rows.Count];
            if (_window > 0)
            {
                NonQuery(connection, "DELETE FROM queue_duplicates WHERE queue = $q AND seen_at <= $c", ("$q", _queue), ("$c", _now - _window));
            }

            for (int i = 0; i < _rows.Count; i++)
            {
                var row = _rows[i];
                var tracked = row.Tracked && _window > 0;
                if (tracked && Scalar(connection, "SELECT seq FROM queue_duplicates WHERE queue = $q AND message_id = $m",
                    ("$q", _queue), ("$m", row.MessageId)) is long original)
                {
                    results[i] = new SendResult(Scalar(connection, "SELECT seq FROM queue_messages WHERE seq = $s", ("$s", original)) is null ? 0 : original, Duplicate: true);
                    continue;
                }

                var seq = (long)Scalar(connection, """
                    INSERT INTO queue_messages(queue, message_id, session_id, priority, state, enqueued_at, visible_at, expires_at, properties, body)
                    VALUES($q, $m, $s, $p, 0, $n, $v, $e, $props, $b) RETURNING seq
                    """,
                    ("$q", _queue), ("$m", row.MessageId), ("$s", row.SessionId), ("$p", row.Message.Priority), ("$n", _now), ("$v", row.VisibleAt),
                    ("$e", row.ExpiresAt), ("$props", row.Properties), ("$b", row.Message.Body.ToArray()))!;
                if (tracked)
                {
                    NonQuery(connection, "INSERT OR REPLACE INTO queue_duplicates(queue, message_id, seen_at, seq) VALUES($q, $m, $n, $s)",
                        ("$q", _queue), ("$m", row.MessageId), ("$n", _now), ("$s", seq));
                }

                results[i] = new SendResult(seq, Duplicate: false);
            }

            return results;
        }
    }

    /// <inheritdoc/>
    public Task<bool> CancelScheduledMessageAsync(string queue, long sequenceNumber, CancellationToken cancellationToken = default)
    {
        GetQueue(queue);
        var now = Now();
        return _store.ExecuteAsync(connection => NonQuery(connection,
            "DELETE FROM queue_messages WHERE seq = $s AND queue = $q AND state = 0 AND visible_at > $n",
            ("$s", sequenceNumber), ("$q", queue), ("$n", now)) > 0);
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<ReceivedQueueMessage>> PeekAsync(string queue, long fromSequenceNumber, int maxMessages, bool deadLetterQueue,
        CancellationToken cancellationToken = default)
    {
        GetQueue(queue);
        var now = Now();
        var max = Math.Clamp(maxMessages, 1, MaxMessagesPerCall);
        return _store.ExecuteAsync<IReadOnlyList<ReceivedQueueMessage>>(connection =>
            Query(connection, $"SELECT {Columns} FROM queue_messages WHERE queue = $q AND seq >= $f AND state {(deadLetterQueue ? "= 3" : "<> 3")} ORDER BY seq LIMIT $m",
                ("$q", queue), ("$f", fromSequenceNumber), ("$m", max)).ConvertAll(r => r.ToMessage(now, withLock: false)));
    }

    /// <inheritdoc/>
    public Task<ReceivedQueueMessage?> GetMessageAsync(string queue, long sequenceNumber, CancellationToken cancellationToken = default)
    {
        GetQueue(queue);
        var now = Now();
        return _store.ExecuteAsync(connection =>
            Query(connection, $"SELECT {Columns} FROM queue_messages WHERE queue = $q AND seq = $s", ("$q", queue), ("$s", sequenceNumber))
                .Select(r => r.ToMessage(now, withLock: false)).FirstOrDefault());
    }

    /// <inheritdoc/>
    public Task<QueueStatistics> GetStatisticsAsync(string queue, CancellationToken cancellationToken = default)
    {
        GetQueue(queue);
        var now = Now();
        return _store.ExecuteAsync(connection =>
        {
            var command = Command(connection, """
                SELECT COALESCE(SUM(state = 0 AND visible_at <= $n), 0), COALESCE(SUM(state = 0 AND visible_at > $n), 0),
                       COALESCE(SUM(state = 2), 0), COALESCE(SUM(state = 3), 0), MIN(CASE WHEN state = 0 AND visible_at <= $n THEN enqueued_at END)
                FROM queue_messages WHERE queue = $q
                """, ("$q", queue), ("$n", now));
            using var reader = command.ExecuteReader();
            reader.Read();
            var oldest = reader.IsDBNull(4) ? now : reader.GetInt64(4);
            return new QueueStatistics(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3),
                TimeSpan.FromMilliseconds(Math.Max(0, now - oldest)));
        });
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => _store.DisposeAsync();

    /// <summary>Runs platform state that belongs with the queues (command records) in the same group commit.</summary>
    internal Task<T> ExecuteAsync<T>(Func<SqliteConnection, T> work) => _store.ExecuteAsync(work);

    private QueueProperties GetQueue(string queue) =>
        FindQueue(queue) ?? throw new QueueException(QueueError.NotFound, $"There is no queue named '{queue}'.");

    private long Now() => _timeProvider.GetUtcNow().ToUnixTimeMilliseconds();

    private static DateTimeOffset FromMs(long ms) => ms == Never ? DateTimeOffset.MaxValue : DateTimeOffset.FromUnixTimeMilliseconds(ms);
}
