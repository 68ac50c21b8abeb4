using System.Buffers;
using MQTTnet;
using MQTTnet.Exceptions;
using MQTTnet.Protocol;

namespace Iot.Simulator.Devices;

internal sealed partial class SimulatedDevice
{
    /// <summary>Share of commands a flaky device answers late (0.5 to 3 s).</summary>
    internal const double FlakyLateAnswerRate = 0.3;

    /// <summary>
    /// A message on <c>devices/{id}/commands/{name}/{commandId}</c>: run it and answer on the Response Topic (MQTT 5,
    /// echoing the Correlation Data) or on <c>devices/{id}/responses/{commandId}</c>.
    /// </summary>
    private async Task OnCommandAsync(ConnectionSession session, MqttApplicationMessageReceivedEventArgs e)
    {
        var message = e.ApplicationMessage;
        if (!TryParseCommandTopic(message.Topic, Id, out var name, out var commandId))
        {
            return;
        }

        _stats.CommandReceived();
        CommandOutcome outcome;
        TimeSpan? late = null;
        lock (_gate)
        {
            outcome = CommandHandler.Handle(name, message.Payload.ToArray(), this);
            if (_profile.IsFlaky && _behaviour.NextDouble() < FlakyLateAnswerRate)
            {
                late = TimeSpan.FromMilliseconds(500 + (2500 * _behaviour.NextDouble()));
            }
        }

        var responseTopic = string.IsNullOrEmpty(message.ResponseTopic) ? $"devices/{Id}/responses/{commandId}" : message.ResponseTopic;
        var answer = new MqttApplicationMessageBuilder()
            .WithTopic(responseTopic)
            .WithPayload(outcome.Answer)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce);
        if (IsVersion5)
        {
            answer = answer.WithContentType("application/json");
            if (message.CorrelationData is { Length: > 0 } correlation)
            {
                answer = answer.WithCorrelationData(correlation);
            }
        }

        if (late is { } delay)
        {
            // Not in the handler: MQTTnet acknowledges the command when the handler returns, and a late answer must
            // not hold up the PUBACK or the next command.
            _ = AnswerLateAsync(session, answer.Build(), outcome, delay);
            return;
        }

        await AnswerAsync(session, answer.Build(), outcome).ConfigureAwait(false);
    }

    private async Task AnswerLateAsync(ConnectionSession session, MqttApplicationMessage answer, CommandOutcome outcome, TimeSpan delay)
    {
        try
        {
            await Task.Delay(delay, _timeProvider, session.Token).ConfigureAwait(false);
            await AnswerAsync(session, answer, outcome).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The connection ended first; the broker delivers the command again.
        }
    }

    private async Task AnswerAsync(ConnectionSession session, MqttApplicationMessage answer, CommandOutcome outcome)
    {
        try
        {
            var result = await session.Client.PublishAsync(answer, session.Token).ConfigureAwait(false);
            if (result.IsSuccess)
            {
                _stats.CommandAnswered();
            }
            else
            {
                _reporter.ReportError(Id, $"answer on {answer.Topic} refused: {result.ReasonCode} {result.ReasonString}");
            }
        }
        catch (Exception ex) when (ex is MqttCommunicationException or OperationCanceledException or InvalidOperationException)
        {
            if (!session.Token.IsCancellationRequested)
            {
                _reporter.ReportError(Id, $"answer on {answer.Topic}: {ex.Message}");
            }

            return;
        }

        if (outcome.RebootPause is { } pause)
        {
            session.End(ConnectionEnd.Reboot, pause);
        }
    }

    /// <summary>Parses <c>devices/{deviceId}/commands/{name}/{commandId}</c> for this device.</summary>
    internal static bool TryParseCommandTopic(string topic, string deviceId, out string name, out string commandId)
    {
        name = commandId = "";
        var prefix = $"devices/{deviceId}/commands/";
        if (!topic.StartsWith(prefix, StringComparison.Ordinal))
        {
            return false;
        }

        var parts = topic[prefix.Length..].Split('/');
        if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
        {
            return false;
        }

        name = parts[0];
        commandId = parts[1];
        return true;
    }
}
