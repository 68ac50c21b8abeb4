using System.Collections.Concurrent;
using System.Threading.Channels;
using Iot.Routing.Commands;

namespace Iot.Routing.Tests.Commands;

/// <summary>The broker's side of commands, driven by the test: readiness, and the PUBACK of each send.</summary>
internal sealed class FakeDeviceCommandChannel : IDeviceCommandChannel
{
    private readonly ConcurrentDictionary<string, bool> _ready = new(StringComparer.Ordinal);
    private readonly Channel<PendingSend> _sends = Channel.CreateUnbounded<PendingSend>();

    public event Action<string>? DeviceReady;

    public bool IsReady(string deviceId) => _ready.ContainsKey(deviceId);

    public void Connect(string deviceId)
    {
        _ready[deviceId] = true;
        DeviceReady?.Invoke(deviceId);
    }

    public void Disconnect(string deviceId) => _ready.TryRemove(deviceId, out _);

    public Task<bool> SendAsync(DeviceCommandMessage command, CancellationToken cancellationToken = default)
    {
        var send = new PendingSend(command);
        if (!IsReady(command.DeviceId))
        {
            return Task.FromResult(false);
        }

        _sends.Writer.TryWrite(send);
        return send.Acknowledged.Task.WaitAsync(cancellationToken);
    }

    /// <summary>The next command sent, within a real-time deadline.</summary>
    public async Task<PendingSend> NextSendAsync(TimeSpan? timeout = null)
    {
        using var deadline = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        return await _sends.Reader.ReadAsync(deadline.Token);
    }

    public bool TryTakeSend(out PendingSend? send) => _sends.Reader.TryRead(out send);

    /// <summary>Waits up to <paramref name="timeout"/> for a send to be available; false when none came.</summary>
    public async Task<bool> WaitForSendAsync(TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            return await _sends.Reader.WaitToReadAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}

internal sealed class PendingSend(DeviceCommandMessage command)
{
    public DeviceCommandMessage Command { get; } = command;

    public TaskCompletionSource<bool> Acknowledged { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string CommandId => Command.Topic[(Command.Topic.LastIndexOf('/') + 1)..];
}
