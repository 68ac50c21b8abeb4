using Iot.QueueBench;

// Durable queue throughput: send, then receive-and-complete, with concurrent senders and competing consumers.
//   dotnet run -c Release --project bench/Iot.QueueBench -- iot  [messages] [senders] [consumers]
//   dotnet run -c Release --project bench/Iot.QueueBench -- nats [messages] [senders] [consumers] [url]
//   dotnet run -c Release --project bench/Iot.QueueBench -- jetstream [messages] [senders] [consumers] [url] [replicas]
//   dotnet run -c Release --project bench/Iot.QueueBench -- http [messages] [senders] [consumers] [httpBase,httpBase,...]
//   dotnet run -c Release --project bench/Iot.QueueBench -- commands [devices] [commands] [httpBase,...] [mqttPort,...] [concurrency]
// bench/queue-compare.sh runs the first two against a fresh data directory and a fresh nats-server.
var mode = args.Length > 0 ? args[0] : "iot";
int Arg(int index, int fallback) => args.Length > index ? int.Parse(args[index], System.Globalization.CultureInfo.InvariantCulture) : fallback;
switch (mode)
{
    case "iot":
        await using (var target = new IotQueueTarget())
        {
            await QueueWorkload.RunAsync(target, Arg(1, 20_000), Arg(2, 16), Arg(3, 8));
        }

        break;
    case "nats":
        await using (var target = await NatsQueueTarget.CreateAsync(args.Length > 4 ? args[4] : "nats://127.0.0.1:4222"))
        {
            await QueueWorkload.RunAsync(target, Arg(1, 20_000), Arg(2, 16), Arg(3, 8));
        }

        break;
    case "jetstream":
        await using (var target = await JetStreamQueueTarget.CreateAsync(args.Length > 4 ? args[4] : "nats://127.0.0.1:4222", Arg(5, 1)))
        {
            await QueueWorkload.RunAsync(target, Arg(1, 20_000), Arg(2, 16), Arg(3, 8));
        }

        break;
    case "http":
        await using (var target = await HttpQueueTarget.CreateAsync(args.Length > 4 ? args[4] : "http://127.0.0.1:8080/"))
        {
            await QueueWorkload.RunAsync(target, Arg(1, 20_000), Arg(2, 16), Arg(3, 8));
        }

        break;
    case "commands":
        await CommandWorkload.RunAsync(Arg(1, 1000), Arg(2, 5000), args.Length > 3 ? args[3] : "http://127.0.0.1:8080/",
            args.Length > 4 ? args[4] : "1883", Arg(5, 64));
        break;
    default:
        Console.Error.WriteLine("usage: iot|nats|jetstream|http|commands ...");
        return 2;
}

return 0;
