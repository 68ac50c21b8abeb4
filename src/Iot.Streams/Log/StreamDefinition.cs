namespace Iot.Streams.Log;

/// <summary>A named stream: its partition count and retention.</summary>
public sealed class StreamDefinition
{
    /// <summary>The stream's name: 1-64 characters of the platform's ids (<see cref="Iot.Messaging.ResourceNames"/>).</summary>
    public string Name { get; set; } = "";

    /// <summary>Number of partitions.</summary>
    /// <remarks>Default 4; range 1-256. Fixed once the stream exists (keys would move to other partitions).</remarks>
    public int Partitions { get; set; } = 4;

    /// <summary>Records older than this are removed (whole segments at a time).</summary>
    /// <remarks>Default 7 days; at least 1 minute.</remarks>
    public TimeSpan RetentionAge { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Each partition is kept under this many bytes (whole segments removed, oldest first); null means no limit.</summary>
    /// <remarks>Default null; when set, at least twice the segment size.</remarks>
    public long? RetentionBytes { get; set; }

    /// <summary>Whether <paramref name="name"/> is a valid stream name.</summary>
    public static bool IsValidName(string? name) => Validate(name) is null;

    /// <summary>Null when <paramref name="name"/> is a valid stream or consumer group name (the platform's ids, at most 64 characters); otherwise why not.</summary>
    public static string? Validate(string? name, string what = "stream name") => Iot.Messaging.ResourceNames.Validate(name, what, MaxNameLength);

    /// <summary>The longest stream or consumer group name.</summary>
    public const int MaxNameLength = 64;
}
