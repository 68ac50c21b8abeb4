using System.Diagnostics;

namespace Iot.QueueBench;

/// <summary>A durable queue under test: send one message (durable when the task completes), receive a batch, complete one.</summary>
internal interface IQueueTarget
{
    string Name { get; }

    Task SendAsync(byte[] body);

    Task<IReadOnlyList<object>> ReceiveAsync(int max);

    Task CompleteAsync(object message);
}

internal static class QueueWorkload
{
    public static async Task RunAsync(IQueueTarget target, int messages, int senders, int consumers)
    {
        var body = new byte[256];
        Random.Shared.NextBytes(body);
        var sendLatencies = new double[messages];
        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, senders).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < messages)
            {
                var started = Stopwatch.GetTimestamp();
                await target.SendAsync(body);
                sendLatencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }
        })));
        var sendSeconds = clock.Elapsed.TotalSeconds;

        var completeLatencies = new System.Collections.Concurrent.ConcurrentBag<double>();
        var completed = 0;
        clock.Restart();
        await Task.WhenAll(Enumerable.Range(0, consumers).Select(_ => Task.Run(async () =>
        {
            while (Volatile.Read(ref completed) < messages)
            {
                var started = Stopwatch.GetTimestamp();
                var batch = await target.ReceiveAsync(32);
                if (batch.Count == 0)
                {
                    continue;
                }

                await Task.WhenAll(batch.Select(target.CompleteAsync));
                var perBatch = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                foreach (var __ in batch)
                {
                    completeLatencies.Add(perBatch);
                }

                Interlocked.Add(ref completed, batch.Count);
            }
        })));
        var receiveSeconds = clock.Elapsed.TotalSeconds;

        Console.WriteLine($"{target.Name}: {messages} messages of {body.Length} B, {senders} senders, {consumers} consumers (batches of 32)");
        Console.WriteLine($"  send:              {messages / sendSeconds,10:N0} msg/s   p50 {Percentile(sendLatencies, 0.50),7:N2} ms   p99 {Percentile(sendLatencies, 0.99),7:N2} ms (durable ack per message)");
        var receive = completeLatencies.ToArray();
        Console.WriteLine($"  receive+complete:  {messages / receiveSeconds,10:N0} msg/s   p50 {Percentile(receive, 0.50),7:N2} ms   p99 {Percentile(receive, 0.99),7:N2} ms (receive a batch, complete each)");
    }

    internal static double Percentile(double[] values, double p)
    {
        if (values.Length == 0)
        {
            return 0;
        }

        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
    }
}
