namespace Iot.Streams.Log.JetStream;

/// <summary>Settings of the JetStream streams (cluster mode), filled from <c>Iot:Cluster</c> and <c>Iot:Streams</c>.</summary>
internal sealed class JetStreamLogOptions
{
    /// <summary>Replicas of every partition stream and bucket (<c>Iot:Cluster:Replicas</c>).</summary>
    public int Replicas { get; init; } = 3;

    /// <summary>How long an append, read or commit may take (<c>Iot:Cluster:RequestTimeout</c>).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Appends waiting per partition before publishers wait (<c>Iot:Streams:MaxPendingAppends</c>).</summary>
    public int QueueCapacity { get; init; } = 8192;

    /// <summary>Publishes per partition awaiting their PubAck (<c>Iot:Streams:MaxInFlightAppends</c>).</summary>
    public int MaxInFlight { get; init; } = 256;

    /// <summary>Prefix of the partition streams' names (tests use their own).</summary>
    public string StreamPrefix { get; init; } = "IOT_S_";

    /// <summary>Prefix of the partition subjects.</summary>
    public string SubjectPrefix { get; init; } = "iot.s";

    /// <summary>The bucket of stream definitions.</summary>
    public string DefinitionsBucket { get; init; } = "iot-streams";

    /// <summary>The bucket of consumer groups' committed offsets.</summary>
    public string GroupsBucket { get; init; } = "iot-stream-groups";

    /// <summary>How long start-up keeps trying while JetStream does not answer (a NATS cluster electing its leaders).</summary>
    public TimeSpan SetupWindow { get; init; } = TimeSpan.FromSeconds(60);

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Records each append's time from publish to JetStream's acknowledgement (<c>iot.stream.append.duration</c>), if set.</summary>
    public System.Diagnostics.Metrics.Histogram<double>? AppendDuration { get; init; }
}
