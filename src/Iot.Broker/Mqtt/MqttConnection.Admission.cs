using Iot.Broker.Security;
using MQTTnet.Protocol;

namespace Iot.Broker.Mqtt;

/// <summary>
/// What slows a CONNECT down before it is answered: the per-address connect rate (a connection beyond the burst is
/// answered when its token is due) and the login back-off and password verification pool (<see cref="LoginBackoff"/>,
/// <see cref="PasswordHashPool"/>).
/// </summary>
internal sealed partial class MqttConnection
{
    // TimeProvider timestamp before which this connection's CONNECT is not answered; 0: at once.
    private long _admitAt;

    /// <summary>Answers this connection's CONNECT no earlier than <paramref name="delay"/> from now (the connect rate admitted it beyond its burst).</summary>
    public void AdmitAfter(TimeSpan delay)
    {
        if (delay > TimeSpan.Zero)
        {
            _admitAt = Context.Time.GetTimestamp() + (long)(delay.TotalSeconds * Context.Time.TimestampFrequency);
        }
    }

    /// <summary>Waits until the connect rate lets this connection's CONNECT be answered.</summary>
    private ValueTask WaitForAdmissionAsync()
    {
        if (_admitAt == 0)
        {
            return ValueTask.CompletedTask;
        }

        var wait = Context.Time.GetElapsedTime(Context.Time.GetTimestamp(), _admitAt);
        _admitAt = 0;
        return wait > TimeSpan.Zero ? new ValueTask(Task.Delay(wait, Context.Time)) : ValueTask.CompletedTask;
    }

    /// <summary>
    /// Checks a username and password: a cached verification at once; otherwise after the address's back-off, on the
    /// bounded verification pool, and a failure answered after the back-off it earned. Null when refused here (CONNACK
    /// 0x89 sent: the address is backing off for longer than the maximum, or the pool is full).
    /// </summary>
    private async ValueTask<AuthenticationOutcome?> VerifyPasswordAsync(IIdentityAuthenticator authenticator, string username, byte[] password)
    {
        // A password that succeeded before proves itself without hashing: reconnects flow whatever the back-off or the pool.
        if (authenticator.TryAuthenticateCached(username, password, out var cached))
        {
            return cached;
        }

        var backoff = _broker.LoginBackoff;
        var address = ConnectionAdmission.SourceAddress(_transport.RemoteEndPoint);
        if (backoff is null)
        {
            return await AuthenticateOnPoolAsync(authenticator, username, password).ConfigureAwait(false);
        }

        if (!backoff.TryBeginVerification(address))
        {
            Context.Metrics.LimitHit(LimitKind.PasswordHashBusy);
            Refuse(MqttConnectReasonCode.ServerBusy, "password verifications from this address already under way (Iot:Security:PasswordHashConcurrency)");
            return null;
        }

        AuthenticationOutcome? outcome;
        try
        {
            if (!backoff.TryEnter(address, out var wait))
            {
                Context.Metrics.LimitHit(LimitKind.LoginBackoffRefused);
                Refuse(MqttConnectReasonCode.ServerBusy, "too many failed logins from this address (login back-off)");
                return null;
            }

            if (wait > TimeSpan.Zero)
            {
                Context.Metrics.LimitHit(LimitKind.LoginBackoffDelayed);
                await Task.Delay(wait, Context.Time).ConfigureAwait(false);
            }

            outcome = await AuthenticateOnPoolAsync(authenticator, username, password).ConfigureAwait(false);
        }
        finally
        {
            backoff.EndVerification(address);
        }

        if (outcome is not { } checkedOutcome)
        {
            return null;
        }

        if (checkedOutcome.Succeeded)
        {
            backoff.Succeeded(address, username);
        }
        else if (backoff.Failed(address, username) is var delay && delay > TimeSpan.Zero)
        {
            Context.Metrics.LimitHit(LimitKind.LoginBackoffDelayed);
            await Task.Delay(delay, Context.Time).ConfigureAwait(false);
        }

        return outcome;
    }

    /// <summary>The password check on the bounded pool; null when the pool's queue is full (CONNACK 0x89 sent).</summary>
    private async ValueTask<AuthenticationOutcome?> AuthenticateOnPoolAsync(IIdentityAuthenticator authenticator, string username, byte[] password)
    {
        var outcome = await authenticator.AuthenticatePasswordAsync(username, password, CancellationToken.None).ConfigureAwait(false);
        if (outcome.ServerBusy)
        {
            Context.Metrics.LimitHit(LimitKind.PasswordHashBusy);
            Refuse(MqttConnectReasonCode.ServerBusy, "password verification queue is full (Iot:Security:PasswordHashQueue)");
            return null;
        }

        return outcome;
    }
}
