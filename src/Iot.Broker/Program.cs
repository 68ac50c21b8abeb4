using Iot.Broker.Hosting;

// 1. .NET settings that must be in place before the first socket and configuration watcher start.
RuntimeDefaults.Apply();

// 2. The host (BrokerHost.Create reads as its table of contents): services (MQTT core, security, routing with event
//    subscriptions, queues and commands, streams, the InfluxDB sink), listeners (MQTT over TCP on the broker's own
//    transport; MQTT over TLS and HTTP on Kestrel) and endpoints (/mqtt over WebSocket, operations, dashboard, /api).
// 3. Run until stopped. A start-up failure (a port in use, an unusable data directory, a corrupt store, a bad setting)
//    ends with one line naming the cause and exit code 1, not an unhandled exception.
return await BrokerHost.RunAsync(args);
