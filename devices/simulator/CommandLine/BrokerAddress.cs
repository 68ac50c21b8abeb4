namespace Iot.Simulator.CommandLine;

/// <summary>How a device reaches the broker.</summary>
internal enum BrokerTransport
{
    /// <summary><c>mqtt://</c>: MQTT over TCP.</summary>
    Tcp,

    /// <summary><c>mqtts://</c>: MQTT over TLS.</summary>
    Tls,

    /// <summary><c>ws://</c>: MQTT over WebSocket.</summary>
    WebSocket,

    /// <summary><c>wss://</c>: MQTT over WebSocket with TLS.</summary>
    SecureWebSocket,
}

/// <summary>A parsed <c>--broker</c> URL: <c>mqtt://host[:1883]</c>, <c>mqtts://host[:8883]</c>, <c>ws://host[:80]/mqtt</c>, <c>wss://host[:443]/mqtt</c>.</summary>
internal sealed record BrokerAddress(BrokerTransport Transport, string Host, int Port, string Path)
{
    /// <summary>The path the broker serves MQTT over WebSocket on, used when a <c>ws://</c> URL has none.</summary>
    public const string DefaultWebSocketPath = "/mqtt";

    /// <summary>True for <c>mqtts://</c> and <c>wss://</c>.</summary>
    public bool UsesTls => Transport is BrokerTransport.Tls or BrokerTransport.SecureWebSocket;

    /// <summary>True for <c>ws://</c> and <c>wss://</c>.</summary>
    public bool IsWebSocket => Transport is BrokerTransport.WebSocket or BrokerTransport.SecureWebSocket;

    /// <summary>The WebSocket URL (<c>ws://host:port/path</c>); only for WebSocket transports.</summary>
    public string WebSocketUrl => $"{(UsesTls ? "wss" : "ws")}://{FormatHost(Host)}:{Port}{Path}";

    /// <summary>Parses a broker URL; on failure <paramref name="error"/> says what is wrong and what is accepted.</summary>
    public static bool TryParse(string? text, out BrokerAddress? address, out string? error)
    {
        address = null;
        error = null;
        if (string.IsNullOrWhiteSpace(text) || !Uri.TryCreate(text.Trim(), UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            error = $"'{text}' is not a broker URL; use mqtt://host:1883, mqtts://host:8883, ws://host:8080/mqtt or wss://host/mqtt.";
            return false;
        }

        (BrokerTransport transport, int defaultPort)? scheme = uri.Scheme.ToUpperInvariant() switch
        {
            "MQTT" or "TCP" => (BrokerTransport.Tcp, 1883),
            "MQTTS" or "SSL" => (BrokerTransport.Tls, 8883),
            "WS" => (BrokerTransport.WebSocket, 80),
            "WSS" => (BrokerTransport.SecureWebSocket, 443),
            _ => null,
        };
        if (scheme is not { } known)
        {
            error = $"The broker URL scheme '{uri.Scheme}' is not supported; use mqtt://, mqtts://, ws:// or wss://.";
            return false;
        }

        var port = uri.IsDefaultPort || uri.Port <= 0 ? known.defaultPort : uri.Port;
        var isWebSocket = known.transport is BrokerTransport.WebSocket or BrokerTransport.SecureWebSocket;
        var path = isWebSocket
            ? (uri.AbsolutePath is "" or "/" ? DefaultWebSocketPath : uri.AbsolutePath) + uri.Query
            : "";
        if (!isWebSocket && uri.AbsolutePath is not ("" or "/"))
        {
            error = $"The broker URL '{text}' has a path; only ws:// and wss:// URLs take one.";
            return false;
        }

        address = new BrokerAddress(known.transport, uri.IdnHost.Trim('[', ']'), port, path);
        return true;
    }

    /// <inheritdoc/>
    public override string ToString() => Transport switch
    {
        BrokerTransport.Tcp => $"mqtt://{FormatHost(Host)}:{Port}",
        BrokerTransport.Tls => $"mqtts://{FormatHost(Host)}:{Port}",
        _ => WebSocketUrl,
    };

    private static string FormatHost(string host) => host.Contains(':', StringComparison.Ordinal) ? $"[{host}]" : host;
}
