using Iot.Broker.Hosting;

var app = BrokerHost.Create(args);
await app.RunAsync();
