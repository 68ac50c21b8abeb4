using System.Diagnostics;
using System.Net.Mime;
using System.Text.Json;
using CloudNative.CloudEvents;
using CloudNative.CloudEvents.SystemTextJson;
using Iot.Messaging;
using Iot.Messaging.Telemetry;

namespace Iot.Routing.Rules;

/// <summary>
/// A message in the routing layer seen as a CloudEvent: an MQTT publish (attributes from the topic convention) or
/// a CloudEvent posted to the HTTP API. Conditions read its attributes, user properties and JSON payload.
/// </summary>
/// <remarks>
/// The payload is parsed as JSON at most once, and only when a condition or the CloudEvent encoding needs it.
/// Instances live for one routing call; destinations copy what they keep (see <see cref="IRouteDestination"/>).
/// Destinations outside Routing see it as the CloudEvents-free <see cref="IRoutedEvent"/>; Routing's own
/// destinations take it back with <see cref="Of"/> for conditions and the CloudEvents encoding.
/// </remarks>
public sealed class RoutedEvent : IRoutedEvent, IDisposable
{
    internal static readonly JsonEventFormatter Formatter = new();

    /// <summary>The CloudEvents distributed-tracing extension's attributes (W3C trace context).</summary>
    internal static readonly CloudEventAttribute TraceParentAttribute = CloudEventAttribute.CreateExtension(IotTracing.TraceParent, CloudEventAttributeType.String);

    /// <inheritdoc cref="TraceParentAttribute"/>
    internal static readonly CloudEventAttribute TraceStateAttribute = CloudEventAttribute.CreateExtension(IotTracing.TraceState, CloudEventAttributeType.String);
    private const string JsonMediaType = "application/json";

    // One spare instance per thread for MessageRouter: an event lives only for the synchronous part of routing one
    // message (IRouteDestination.DeliverAsync), so the next message on the thread can reuse it: no allocation per publish.
    [ThreadStatic]
    private static RoutedEvent? t_spare;

    private CloudEvent? _posted;
    private JsonDocument? _document;
    private int _dataState; // 0 unknown, 1 JSON, 2 not JSON
    private ReadOnlyMemory<byte>? _encoded;

    // For MQTT messages, id, type and source are made on first use: most messages reach no destination that reads
    // them, and a UUID costs a read of the kernel's random source on Linux (a system call per message).
    private string? _type;
    private string? _source;
    private string? _id;

    private RoutedEvent(string topic, string? type, string? source, string? id, DateTimeOffset time, string? contentType,
        ReadOnlyMemory<byte> payload, IReadOnlyList<KeyValuePair<string, string>> userProperties, CloudEvent? posted)
    {
        Topic = topic;
        _type = type;
        _source = source;
        _id = id;
        Time = time;
        ContentType = contentType;
        Payload = payload;
        UserProperties = userProperties;
        _posted = posted;
    }

    /// <summary>The MQTT topic, or the subject of a posted CloudEvent (<c>events</c> when it has none).</summary>
    public string Topic { get; private set; }

    /// <summary>The CloudEvents <c>type</c>.</summary>
    public string Type
    {
        get
        {
            if (_type is null)
            {
                (_type, _source) = Describe(Topic);
            }

            return _type;
        }
    }

    /// <summary>The CloudEvents <c>source</c>.</summary>
    public string Source
    {
        get
        {
            if (_source is null)
            {
                (_type, _source) = Describe(Topic);
            }

            return _source;
        }
    }

    /// <summary>The CloudEvents <c>id</c>: a UUID v7 of <see cref="Time"/> for MQTT messages.</summary>
    public string Id => _id ??= Guid.CreateVersion7(Time).ToString();

    /// <summary>The CloudEvents <c>time</c>.</summary>
    public DateTimeOffset Time { get; private set; }

    /// <summary>The content type of the payload, when known.</summary>
    public string? ContentType { get; private set; }

    /// <summary>The MQTT payload (empty for posted CloudEvents, whose data is in the event).</summary>
    public ReadOnlyMemory<byte> Payload { get; private set; }

    /// <summary>MQTT 5 user properties; empty for posted CloudEvents.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> UserProperties { get; private set; }

    /// <summary>Whether the event came from the HTTP API rather than an MQTT publish.</summary>
    public bool IsPosted => _posted is not null;

    /// <summary>Builds the event for an MQTT message (see docs/api.md for the type and source convention).</summary>
    /// <param name="message">The message.</param>
    /// <param name="timeProvider">Supplies the time when the message has none.</param>
    public static RoutedEvent FromMessage(IRoutedMessage message, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(timeProvider);
        var time = message.ReceivedAt == default ? timeProvider.GetUtcNow() : message.ReceivedAt;
        return new RoutedEvent(message.Topic, type: null, source: null, id: null, time, message.ContentType,
            message.Payload, message.UserProperties, posted: null);
    }

    /// <summary>
    /// <see cref="FromMessage"/> into this thread's spare instance when it is free; give it back with
    /// <see cref="Return"/> once the synchronous part of routing is over (no reference to it may outlive that).
    /// </summary>
    internal static RoutedEvent RentForMessage(IRoutedMessage message, TimeProvider timeProvider)
    {
        if (t_spare is not { } spare)
        {
            return FromMessage(message, timeProvider);
        }

        t_spare = null;
        spare.Topic = message.Topic;
        spare.Time = message.ReceivedAt == default ? timeProvider.GetUtcNow() : message.ReceivedAt;
        spare.ContentType = message.ContentType;
        spare.Payload = message.Payload;
        spare.UserProperties = message.UserProperties;
        return spare;
    }

    /// <summary>Ends an event from <see cref="RentForMessage"/>: disposed, cleared (no payload kept alive) and kept as the thread's spare.</summary>
    internal void Return()
    {
        Dispose();
        Topic = "";
        ContentType = null;
        Payload = default;
        UserProperties = [];
        _posted = null;
        _type = null;
        _source = null;
        _id = null;
        _encoded = null;
        _dataState = 0;
        t_spare = this;
    }

    /// <summary>
    /// The event the router handed to a destination: Routing's destinations receive only events of its
    /// <see cref="MessageRouter"/>, which are <see cref="RoutedEvent"/>s (no copy, no allocation).
    /// </summary>
    internal static RoutedEvent Of(IRoutedEvent routedEvent) => routedEvent as RoutedEvent
        ?? throw new ArgumentException($"Routing's destinations deliver the events of its router, not a {routedEvent?.GetType().Name ?? "null"}.", nameof(routedEvent));

    /// <summary>Wraps a CloudEvent posted to the HTTP API; it must be valid (<see cref="CloudEvent.IsValid"/>).</summary>
    /// <param name="cloudEvent">The event.</param>
    /// <param name="timeProvider">Supplies the time when the event has none.</param>
    public static RoutedEvent FromCloudEvent(CloudEvent cloudEvent, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(cloudEvent);
        ArgumentNullException.ThrowIfNull(timeProvider);
        var subject = string.IsNullOrEmpty(cloudEvent.Subject) ? "events" : cloudEvent.Subject;
        return new RoutedEvent(subject, cloudEvent.Type!, cloudEvent.Source!.ToString(), cloudEvent.Id!,
            cloudEvent.Time ?? timeProvider.GetUtcNow(), cloudEvent.DataContentType, ReadOnlyMemory<byte>.Empty, [], cloudEvent);
    }

    /// <summary>The CloudEvents type and source for an MQTT topic.</summary>
    internal static (string Type, string Source) Describe(string topic)
    {
        var span = topic.AsSpan();
        if (!span.StartsWith("devices/", StringComparison.Ordinal))
        {
            return ("iot.mqtt.message", "/iot/mqtt");
        }

        var rest = span["devices/".Length..];
        int slash = rest.IndexOf('/');
        var deviceId = slash < 0 ? rest : rest[..slash];
        var source = "/iot/devices/" + Uri.EscapeDataString(deviceId.ToString());
        if (slash < 0)
        {
            return ("iot.mqtt.message", source);
        }

        var kind = rest[(slash + 1)..];
        if (kind.SequenceEqual("telemetry"))
        {
            return ("iot.device.telemetry", source);
        }

        if (kind.StartsWith("events/", StringComparison.Ordinal) && kind.Length > "events/".Length)
        {
            return ("iot.device.event." + kind["events/".Length..].ToString().Replace('/', '.'), source);
        }

        return ("iot.mqtt.message", source);
    }

    /// <summary>The JSON payload (or the JSON data of a posted event) when there is one.</summary>
    internal bool TryGetData(out JsonElement data)
    {
        if (_posted is not null)
        {
            if (_posted.Data is JsonElement element)
            {
                data = element;
                return true;
            }

            data = default;
            return false;
        }

        if (_dataState == 0)
        {
            _dataState = 2;
            if (!Payload.IsEmpty && (ContentType is null || IsJson(ContentType)))
            {
                try
                {
                    _document = JsonDocument.Parse(Payload);
                    _dataState = 1;
                }
                catch (JsonException)
                {
                    // Not JSON: the payload travels as data_base64 and data conditions do not match.
                }
            }
        }

        data = _dataState == 1 ? _document!.RootElement : default;
        return _dataState == 1;
    }

    /// <summary>The structured-mode JSON encoding of the CloudEvent; built once.</summary>
    internal ReadOnlyMemory<byte> Encode()
    {
        _encoded ??= Formatter.EncodeStructuredModeMessage(ToCloudEvent(), out _);
        return _encoded.Value;
    }

    /// <summary>The CloudEvent: <c>data</c> holds JSON payloads, <c>data_base64</c> anything else.</summary>
    public CloudEvent ToCloudEvent()
    {
        if (_posted is not null)
        {
            return _posted;
        }

        var cloudEvent = new CloudEvent
        {
            Id = Id,
            Source = new Uri(Source, UriKind.Relative),
            Type = Type,
            Subject = Topic,
            Time = Time,
        };
        SetTraceContext(cloudEvent);
        if (TryGetData(out var data))
        {
            cloudEvent.DataContentType = JsonMediaType;
            cloudEvent.Data = data;
        }
        else if (!Payload.IsEmpty)
        {
            cloudEvent.DataContentType = ContentType ?? "application/octet-stream";
            cloudEvent.Data = Payload.ToArray();
        }

        return cloudEvent;
    }

    /// <summary>
    /// The CloudEvents distributed-tracing extension: the current span's context when the platform traces (the
    /// <c>send</c> span below <c>route</c>), else the context the message carries in its MQTT 5 user properties, so a
    /// trace started by a device continues through event subscriptions whether or not this broker records spans.
    /// </summary>
    private void SetTraceContext(CloudEvent cloudEvent)
    {
        var context = Activity.Current is { } current && IotTracing.Enabled ? current.Context : default;
        if (context == default && UserProperties.Count > 0)
        {
            context = IotTracing.ContextOf(UserProperties);
        }

        if (IotTracing.TraceParentOf(context) is { } traceParent)
        {
            cloudEvent[TraceParentAttribute] = traceParent;
            if (context.TraceState is { Length: > 0 } state)
            {
                cloudEvent[TraceStateAttribute] = state;
            }
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _document?.Dispose();
        _document = null;
        _dataState = 2;
    }

    private static bool IsJson(string contentType)
    {
        try
        {
            var mediaType = new ContentType(contentType).MediaType;
            return mediaType.Equals(JsonMediaType, StringComparison.OrdinalIgnoreCase)
                || mediaType.EndsWith("+json", StringComparison.OrdinalIgnoreCase)
                || mediaType.Equals("text/json", StringComparison.OrdinalIgnoreCase);
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
