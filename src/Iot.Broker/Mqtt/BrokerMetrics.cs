namespace Iot.Broker.Mqtt;

/// <summary>Why a message was not delivered to a subscriber. Each reason is a label of <c>iot_mqtt_messages_dropped_total</c>.</summary>
internal enum DropReason
{
    /// <summary>The session's queue held <see cref="MqttOptions.MaxQueuedMessages"/> messages.</summary>
    QueueFull,

    /// <summary>The message expired (MQTT 5 Message Expiry Interval) before it could be sent.</summary>
    Expired,

    /// <summary>The packet exceeded the Maximum Packet Size the client announced.</summary>
    PacketTooLarge,

    /// <summary>A QoS 0 message for a session that is not connected.</summary>
    Offline,
}

/// <summary>A configured limit that refused or slowed something; each is a label of <c>iot_mqtt_limit_hits_total</c>.</summary>
internal enum LimitKind
{
    /// <summary><see cref="MqttOptions.MaxConnections"/>.</summary>
    MaxConnections,

    /// <summary><see cref="MqttOptions.MaxConnectionsPerIdentity"/>.</summary>
    MaxConnectionsPerIdentity,

    /// <summary><see cref="MqttOptions.MaxSubscriptionsPerClient"/>.</summary>
    MaxSubscriptionsPerClient,

    /// <summary><see cref="MqttOptions.PublishRatePerSecond"/>: the client was slowed down.</summary>
    PublishRateThrottled,

    /// <summary><see cref="MqttOptions.PublishThrottleMaxSeconds"/>: the client was disconnected with 0x96.</summary>
    PublishRateDisconnected,

    /// <summary><see cref="MqttOptions.ConnectRatePerAddress"/>.</summary>
    ConnectRatePerAddress,

    /// <summary><see cref="MqttOptions.MaxTopicLength"/> or <see cref="MqttOptions.MaxTopicLevels"/>.</summary>
    TopicLimits,

    /// <summary><see cref="MqttOptions.MaxRetainedPerSubscribe"/>: a SUBSCRIBE matched more retained messages.</summary>
    MaxRetainedPerSubscribe,

    /// <summary>The process's open-files limit (<c>ulimit -n</c>): a connection could not be accepted.</summary>
    OpenFiles,

    /// <summary><see cref="MqttOptions.MaxPersistentSessionsPerIdentity"/>.</summary>
    MaxPersistentSessionsPerIdentity,

    /// <summary><see cref="MqttOptions.ConnectRatePerAddress"/>: a connection beyond the burst was answered later (within <see cref="MqttOptions.ConnectRateMaxDelaySeconds"/>).</summary>
    ConnectRateDelayed,

    /// <summary><see cref="Security.LoginProtectionOptions.LoginBackoffBaseMilliseconds"/>: a login was held back after failed logins.</summary>
    LoginBackoffDelayed,

    /// <summary><see cref="Security.LoginProtectionOptions.LoginBackoffMaxSeconds"/>: a login from a backing-off address was refused (0x89) without verifying.</summary>
    LoginBackoffRefused,

    /// <summary><see cref="Security.LoginProtectionOptions.LoginBackoffMaxTracked"/>: a new address or username was not tracked.</summary>
    LoginBackoffTableFull,

    /// <summary><see cref="Security.LoginProtectionOptions.PasswordHashQueue"/>: a CONNECT was refused (0x89) because the password verification queue was full.</summary>
    PasswordHashBusy,

    /// <summary>An HTTP request body over <c>Iot:Http:MaxRequestBodyBytes</c> (answered 413).</summary>
    HttpRequestBody,

    /// <summary><see cref="MqttOptions.MaxRetainedMessagesPerIdentity"/> and the other per-identity retained quotas:
    /// a retained message was not retained.</summary>
    RetainedPerIdentity,

    /// <summary><see cref="MqttOptions.MaxRetainedMessages"/> or <see cref="MqttOptions.MaxRetainedBytes"/>.</summary>
    RetainedTotal,

    /// <summary><see cref="MqttOptions.ReceiveMaximum"/> acknowledgements waited for durable writes: the receive side
    /// stopped reading from an MQTT 3.1.1 client until the store caught up (<see cref="AckSequencer"/>).</summary>
    PendingAcknowledgements,

    /// <summary><see cref="MqttOptions.CloseLingerMilliseconds"/>: a client the broker closed had not closed its side
    /// within the linger time (it kept sending, or is gone) and was closed then.</summary>
    CloseLinger,
}

/// <summary>Broker counters, updated lock-free on the hot path and rendered by <c>/metrics</c>.</summary>
internal sealed class BrokerMetrics
{
    private long _connectionsTotal;
    private long _connections;
    private long _messagesReceived;
    private long _messagesSent;
    private long _bytesReceived;
    private long _bytesSent;
    private long _messagesUnmatched;
    private readonly long[] _dropped = new long[Enum.GetValues<DropReason>().Length];
    private long _connectRejected;
    private long _protocolErrors;
    private long _packetTooLarge;
    private long _receiveMaximumExceeded;
    private long _keepAliveTimeouts;
    private long _sessionsExpired;
    private long _willsPublished;
    private readonly long[] _limitHits = new long[Enum.GetValues<LimitKind>().Length];
    private long _authenticationFailures;
    private long _clientIdRefused;
    private long _publishDenied;
    private long _subscribeDenied;
    private long _retainedPending;
    private long _heapCompactions;
    private long _heapCompactionMicroseconds;
    private long _heapStartupCompactionMicroseconds;

    public long AuthenticationFailures => Volatile.Read(ref _authenticationFailures);

    /// <summary>CONNECTs refused because the client id is another identity's (reserved, or its session's owner).</summary>
    public long ClientIdRefused => Volatile.Read(ref _clientIdRefused);

    public long PublishDenied => Volatile.Read(ref _publishDenied);

    public long SubscribeDenied => Volatile.Read(ref _subscribeDenied);

    public long LimitHits(LimitKind limit) => Volatile.Read(ref _limitHits[(int)limit]);

    public void LimitHit(LimitKind limit) => Interlocked.Increment(ref _limitHits[(int)limit]);

    public void AuthenticationFailed() => Interlocked.Increment(ref _authenticationFailures);

    public void ClientIdRefusedOnce() => Interlocked.Increment(ref _clientIdRefused);

    public void PublishDeniedOnce() => Interlocked.Increment(ref _publishDenied);

    public void SubscribeDeniedOnce() => Interlocked.Increment(ref _subscribeDenied);

    public long ConnectionsTotal => Volatile.Read(ref _connectionsTotal);

    public long Connections => Volatile.Read(ref _connections);

    public long MessagesReceived => Volatile.Read(ref _messagesReceived);

    public long MessagesSent => Volatile.Read(ref _messagesSent);

    public long BytesReceived => Volatile.Read(ref _bytesReceived);

    public long BytesSent => Volatile.Read(ref _bytesSent);

    public long MessagesUnmatched => Volatile.Read(ref _messagesUnmatched);

    public long ConnectRejected => Volatile.Read(ref _connectRejected);

    public long ProtocolErrors => Volatile.Read(ref _protocolErrors);

    public long PacketTooLarge => Volatile.Read(ref _packetTooLarge);

    public long ReceiveMaximumExceeded => Volatile.Read(ref _receiveMaximumExceeded);

    public long KeepAliveTimeouts => Volatile.Read(ref _keepAliveTimeouts);

    public long SessionsExpired => Volatile.Read(ref _sessionsExpired);

    public long WillsPublished => Volatile.Read(ref _willsPublished);

    /// <summary>Retained messages that subscriptions still owe their sessions (matched at SUBSCRIBE, not yet sent).</summary>
    public long RetainedPending => Volatile.Read(ref _retainedPending);

    public long Dropped(DropReason reason) => Volatile.Read(ref _dropped[(int)reason]);

    public void ConnectionOpened()
    {
        Interlocked.Increment(ref _connectionsTotal);
        Interlocked.Increment(ref _connections);
    }

    public void ConnectionClosed() => Interlocked.Decrement(ref _connections);

    public void MessageReceived() => Interlocked.Increment(ref _messagesReceived);

    public void MessageSent() => Interlocked.Increment(ref _messagesSent);

    public void AddBytesReceived(long count) => Interlocked.Add(ref _bytesReceived, count);

    public void AddBytesSent(long count) => Interlocked.Add(ref _bytesSent, count);

    public void MessageUnmatched() => Interlocked.Increment(ref _messagesUnmatched);

    public void MessageDropped(DropReason reason) => Interlocked.Increment(ref _dropped[(int)reason]);

    public void ConnectRejectedOnce() => Interlocked.Increment(ref _connectRejected);

    public void ProtocolError() => Interlocked.Increment(ref _protocolErrors);

    public void PacketTooLargeOnce() => Interlocked.Increment(ref _packetTooLarge);

    public void ReceiveMaximumExceededOnce() => Interlocked.Increment(ref _receiveMaximumExceeded);

    public void KeepAliveTimeout() => Interlocked.Increment(ref _keepAliveTimeouts);

    public void SessionExpired() => Interlocked.Increment(ref _sessionsExpired);

    public void WillPublished() => Interlocked.Increment(ref _willsPublished);

    public void AddRetainedPending(long count) => Interlocked.Add(ref _retainedPending, count);

    /// <summary>Heap compactions after connection surges (<see cref="HeapCompaction"/>).</summary>
    public long HeapCompactions => Volatile.Read(ref _heapCompactions);

    /// <summary>Time the broker spent paused in those compactions, in seconds.</summary>
    public double HeapCompactionSeconds => Volatile.Read(ref _heapCompactionMicroseconds) / 1e6;

    /// <summary>The pause of the compaction at start (<see cref="MqttOptions.CompactHeapAtStart"/>); 0 before it or without it.</summary>
    public double HeapStartupCompactionSeconds => Volatile.Read(ref _heapStartupCompactionMicroseconds) / 1e6;

    public void HeapCompactedAtStart(TimeSpan pause) => Volatile.Write(ref _heapStartupCompactionMicroseconds, Math.Max(1, (long)pause.TotalMicroseconds));

    public void HeapCompacted(TimeSpan pause)
    {
        Interlocked.Increment(ref _heapCompactions);
        Interlocked.Add(ref _heapCompactionMicroseconds, (long)pause.TotalMicroseconds);
    }
}
