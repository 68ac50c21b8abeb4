namespace Iot.Broker.Mqtt;

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

    /// <summary><c>Iot:Http:ApiRequestsPerSecond</c>: an API request was answered 429.</summary>
    HttpApiRate,

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

    /// <summary><c>Iot:Cluster:CutOffTimeout</c>: a CONNECT was refused (Server unavailable) because this cluster node
    /// is cut off from NATS.</summary>
    ClusterCutOff,

    /// <summary><see cref="Cluster.ClusterOptions.MaxLiveSubjectLength"/>: a message's NATS subject was too long to send to the
    /// other nodes; it was delivered on its own node only.</summary>
    ClusterLiveSubjectLength,

    /// <summary><see cref="Cluster.ClusterOptions.LiveOutboxCapacity"/>: the queue to the NATS writer of live traffic was full;
    /// the message was delivered on its own node only.</summary>
    ClusterLiveOutbox,
}
