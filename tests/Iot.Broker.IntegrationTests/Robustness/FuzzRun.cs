using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Iot.Broker.IntegrationTests.Robustness;

/// <summary>
/// How big a fuzz run is, from the environment: it stops after <c>IOT_FUZZ_PACKETS</c> mutated packets (default 5 000)
/// or <c>IOT_FUZZ_SECONDS</c> (default 30), whichever comes first, with <c>IOT_FUZZ_WORKERS</c> concurrent
/// connections (default 20), generated from <c>IOT_FUZZ_SEED</c> (default: a new random seed, printed so that a
/// failure can be replayed). <c>IOT_FUZZ_EXCLUDE</c> (comma-separated <see cref="Mutation"/> names, default none)
/// leaves mutations out, to look past a known defect.
/// </summary>
internal sealed record FuzzSettings(int Seed, int Workers, long Packets, TimeSpan Duration, IReadOnlySet<Mutation> Excluded)
{
    /// <summary>Whatever the settings, a run that sent fewer mutated packets than this fails.</summary>
    public const long MinimumPackets = 5_000;

    public static FuzzSettings FromEnvironment() => new(
        (int)(Read("IOT_FUZZ_SEED") ?? Random.Shared.Next()),
        (int)(Read("IOT_FUZZ_WORKERS") ?? 20),
        Read("IOT_FUZZ_PACKETS") ?? MinimumPackets,
        TimeSpan.FromSeconds(Read("IOT_FUZZ_SECONDS") ?? 30),
        (Environment.GetEnvironmentVariable("IOT_FUZZ_EXCLUDE") ?? "")
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(Enum.Parse<Mutation>)
            .ToHashSet());

    /// <summary>The mutated packets a run must have sent to pass.</summary>
    public long RequiredPackets => Math.Min(Packets, MinimumPackets);

    /// <summary>Worker <paramref name="worker"/> runs <c>new PacketMutator(WorkerSeed(worker), …)</c>.</summary>
    public int WorkerSeed(int worker) => unchecked((Seed * 31) + worker);

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"fuzz: IOT_FUZZ_SEED={Seed} IOT_FUZZ_WORKERS={Workers} IOT_FUZZ_PACKETS={Packets} IOT_FUZZ_SECONDS={Duration.TotalSeconds} IOT_FUZZ_EXCLUDE={string.Join(',', Excluded)} (worker w uses seed {Seed}*31+w)");

    private static long? Read(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } text ? long.Parse(text, CultureInfo.InvariantCulture) : null;
}

/// <summary>What a fuzz run did.</summary>
internal sealed record FuzzResult(
    TimeSpan Elapsed,
    long Packets,
    long MutatedPackets,
    long Bytes,
    long Connections,
    long ClosedByBroker,
    TimeSpan MaxConnAckLatency,
    IReadOnlyList<(int Worker, int Index)> ConnAckTimeouts,
    IReadOnlyDictionary<Mutation, long> ByMutation)
{
    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture,
            $"fuzz run: {Elapsed.TotalSeconds:F1} s, {Packets} packets ({MutatedPackets} mutated, {Packets / Math.Max(Elapsed.TotalSeconds, 0.001):F0}/s), ")
            .Append(CultureInfo.InvariantCulture, $"{Bytes / 1048576.0:F1} MiB, {Connections} connections ({ClosedByBroker} closed by the broker first), ")
            .Append(CultureInfo.InvariantCulture, $"slowest CONNACK {MaxConnAckLatency.TotalMilliseconds:F0} ms, {ConnAckTimeouts.Count} CONNECTs unanswered\nmutated packets by mutation:");
        foreach (var (mutation, count) in ByMutation.Where(m => m.Key != Mutation.None).OrderByDescending(m => m.Value))
        {
            text.Append(CultureInfo.InvariantCulture, $" {mutation} {count},");
        }

        return text.ToString().TrimEnd(',');
    }
}

/// <summary>
/// Runs <see cref="FuzzSettings.Workers"/> workers, each opening one connection after another and playing the next
/// <see cref="FuzzSequence"/> of its own <see cref="PacketMutator"/>, until enough mutated packets were sent or the
/// time is up. Whatever the broker sends is read and discarded, so that it never blocks on a full socket.
/// </summary>
internal sealed class FuzzRun(int port, FuzzSettings settings, int maxPacketSize)
{
    // Longer than Iot:Mqtt:ConnectRateMaxDelaySeconds (5 s): every fuzz connection comes from one address, and beyond
    // the per-address rate its CONNACK is delayed, not lost.
    private static readonly TimeSpan ConnAckTimeout = TimeSpan.FromSeconds(10);
    private readonly long[] _byMutation = new long[Enum.GetValues<Mutation>().Length];
    private readonly Journal _journal = new(settings.Workers);
    private readonly ConcurrentQueue<(int Worker, int Index)> _connAckTimeouts = new();
    private long _packets;
    private long _mutated;
    private long _bytes;
    private long _connections;
    private long _closedByBroker;
    private long _maxConnAckTicks;

    public async Task<FuzzResult> RunAsync()
    {
        var started = Stopwatch.GetTimestamp();
        using var deadline = new CancellationTokenSource(settings.Duration);
        await Task.WhenAll(Enumerable.Range(0, settings.Workers).Select(w => Task.Run(() => WorkerAsync(w, deadline.Token))));
        return new FuzzResult(
            Stopwatch.GetElapsedTime(started),
            _packets,
            _mutated,
            _bytes,
            _connections,
            _closedByBroker,
            Stopwatch.GetElapsedTime(0, _maxConnAckTicks),
            [.. _connAckTimeouts],
            Enum.GetValues<Mutation>().ToDictionary(m => m, m => _byMutation[(int)m]));
    }

    /// <summary>The sequences (regenerated from their seeds) that were running between two timestamps.</summary>
    public string DescribeSequencesAround(long fromTimestamp, long toTimestamp)
    {
        var margin = Stopwatch.Frequency;
        return Describe(_journal.Overlapping(fromTimestamp - margin, toTimestamp).Take(40).ToList());
    }

    /// <summary>Regenerates the given sequences: worker w's mutator, advanced to the sequence's index.</summary>
    public string Describe(IReadOnlyList<(int Worker, int Index)> sequences)
    {
        var text = new StringBuilder();
        foreach (var group in sequences.GroupBy(s => s.Worker))
        {
            var mutator = CreateMutator(group.Key);
            var wanted = group.Select(s => s.Index).ToHashSet();
            for (var index = 0; index <= wanted.Max(); index++)
            {
                var sequence = mutator.NextSequence();
                if (wanted.Contains(index))
                {
                    text.Append(CultureInfo.InvariantCulture, $"worker {group.Key} (seed {settings.WorkerSeed(group.Key)}) ").AppendLine(sequence.ToString());
                }
            }
        }

        return text.ToString();
    }

    private PacketMutator CreateMutator(int worker) => new(settings.WorkerSeed(worker), maxPacketSize, $"fuzz{worker}", settings.Excluded);

    private async Task WorkerAsync(int worker, CancellationToken cancellationToken)
    {
        var mutator = CreateMutator(worker);
        while (!cancellationToken.IsCancellationRequested && Volatile.Read(ref _mutated) < settings.Packets)
        {
            var sequence = mutator.NextSequence();
            _journal.Begin(worker, sequence.Index);
            try
            {
                await PlayAsync(worker, sequence, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            finally
            {
                _journal.End(worker);
            }
        }
    }

    private async Task PlayAsync(int worker, FuzzSequence sequence, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
        Interlocked.Increment(ref _connections);
        var firstRead = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var stream = new NetworkStream(socket, ownsSocket: false);
        await using (stream)
        {
            var drain = DrainAsync(stream, firstRead);
            try
            {
                var packets = sequence.Packets;
                var next = 0;
                if (sequence.ValidConnectFirst)
                {
                    var sent = Stopwatch.GetTimestamp();
                    await SendAsync(stream, [packets[0].Bytes], cancellationToken);
                    Count(packets[0]);
                    next = 1;
                    try
                    {
                        await firstRead.Task.WaitAsync(ConnAckTimeout, cancellationToken);
                        UpdateMax(ref _maxConnAckTicks, Stopwatch.GetTimestamp() - sent);
                    }
                    catch (TimeoutException)
                    {
                        _connAckTimeouts.Enqueue((worker, sequence.Index));
                    }
                }

                await SendRestAsync(stream, sequence, next, drain, cancellationToken);
            }
            catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
            {
                // The broker closed the connection: the expected answer to most mutations.
            }

            if (drain.IsCompleted)
            {
                Interlocked.Increment(ref _closedByBroker);
            }

            if (sequence.Abort)
            {
                socket.LingerState = new LingerOption(true, 0);
            }

            socket.Close();
            await drain;
        }
    }

    private async Task SendRestAsync(NetworkStream stream, FuzzSequence sequence, int next, Task drain, CancellationToken cancellationToken)
    {
        var packets = sequence.Packets;
        byte[] Bytes(int i) => i == packets.Count - 1 && sequence.CloseAfterBytes is { } cut ? packets[i].Bytes[..cut] : packets[i].Bytes;
        if (sequence.Mode == WriteMode.Burst)
        {
            await SendAsync(stream, [.. Enumerable.Range(next, packets.Count - next).Select(Bytes)], cancellationToken);
            for (var i = next; i < packets.Count; i++)
            {
                Count(packets[i]);
            }

            return;
        }

        for (var i = next; i < packets.Count && !drain.IsCompleted; i++)
        {
            var bytes = Bytes(i);
            if (sequence.Mode == WriteMode.Fragmented && bytes.Length > 2)
            {
                // Split in two at a point derived from the packet, so that the sequence stays reproducible.
                var split = 1 + (packets[i].Bytes.Length * 7 % (bytes.Length - 1));
                await SendAsync(stream, [bytes[..split]], cancellationToken);
                await SendAsync(stream, [bytes[split..]], cancellationToken);
            }
            else
            {
                await SendAsync(stream, [bytes], cancellationToken);
            }

            Count(packets[i]);
        }
    }

    private async Task SendAsync(NetworkStream stream, byte[][] chunks, CancellationToken cancellationToken)
    {
        var bytes = chunks.Length == 1 ? chunks[0] : [.. chunks.SelectMany(c => c)];
        await stream.WriteAsync(bytes, cancellationToken);
        Interlocked.Add(ref _bytes, bytes.Length);
    }

    private void Count(FuzzPacket packet)
    {
        Interlocked.Increment(ref _packets);
        Interlocked.Increment(ref _byMutation[(int)packet.Mutation]);
        if (packet.Mutation != Mutation.None)
        {
            Interlocked.Increment(ref _mutated);
        }
    }

    /// <summary>Reads and discards until the connection closes; <paramref name="firstRead"/> completes on the first bytes or the close.</summary>
    private static async Task DrainAsync(NetworkStream stream, TaskCompletionSource<bool> firstRead)
    {
        var buffer = new byte[4096];
        try
        {
            while (await stream.ReadAsync(buffer) > 0)
            {
                firstRead.TrySetResult(true);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            // Reset by the broker, or closed by us.
        }
        finally
        {
            firstRead.TrySetResult(false);
        }
    }

    private static void UpdateMax(ref long target, long value)
    {
        var current = Volatile.Read(ref target);
        while (value > current && Interlocked.CompareExchange(ref target, value, current) is var seen && seen != current)
        {
            current = seen;
        }
    }

    /// <summary>When each worker's recent sequences ran; each worker writes only its own row.</summary>
    private sealed class Journal(int workers)
    {
        private const int Depth = 512;
        private readonly Entry[][] _rows = [.. Enumerable.Range(0, workers).Select(_ => new Entry[Depth])];
        private readonly int[] _next = new int[workers];

        public void Begin(int worker, int index) => _rows[worker][_next[worker] % Depth] = new Entry(index, Stopwatch.GetTimestamp(), long.MaxValue);

        public void End(int worker)
        {
            ref var entry = ref _rows[worker][_next[worker] % Depth];
            entry = entry with { End = Stopwatch.GetTimestamp() };
            _next[worker]++;
        }

        public IEnumerable<(int Worker, int Index)> Overlapping(long from, long to)
        {
            for (var worker = 0; worker < _rows.Length; worker++)
            {
                foreach (var entry in _rows[worker].Where(e => e.Start != 0 && e.Start <= to && e.End >= from).OrderBy(e => e.Index))
                {
                    yield return (worker, entry.Index);
                }
            }
        }

        private readonly record struct Entry(int Index, long Start, long End);
    }
}
