using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Iot.Broker.Hosting;
using Iot.Broker.Security;
using Iot.Broker.Security.Identities;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Mqtt;

/// <summary>The parts of the broker a connection needs, resolved once, and the connection quotas.</summary>
internal sealed class MqttBroker
{
    private readonly ConcurrentDictionary<string, int> _perIdentity = new(StringComparer.Ordinal);
    private int _clients;

    public MqttBroker(
        SessionContext context,
        SessionManager sessions,
        SubscriptionIndex subscriptions,
        RetainedMessages retained,
        MessageDispatcher dispatcher,
        ConnectRateLimiter connectRate,
        BrokerCommandChannel commands,
        IOptions<SecurityOptions> security,
        ILoggerFactory loggerFactory,
        IIdentityAuthenticator? authenticator = null,
        IAccessControl? accessControl = null,
        LoginBackoff? loginBackoff = null)
    {
        Context = context;
        Sessions = sessions;
        Subscriptions = subscriptions;
        Retained = retained;
        Dispatcher = dispatcher;
        ConnectRate = connectRate;
        Commands = commands;
        Security = security.Value;
        Logger = loggerFactory.CreateLogger("Iot.Broker.Mqtt.Connection");
        Refusals = new ConnectionRefusals(Logger, context.Time, TimeSpan.FromSeconds(context.Options.RefusedConnectionsLogIntervalSeconds));
        Authenticator = authenticator;
        AccessControl = accessControl;
        LoginBackoff = loginBackoff;
        if (!string.IsNullOrEmpty(context.Options.ClientCertificateCaPath))
        {
            ClientCertificateAuthority = X509CertificateLoader.LoadCertificateFromFile(context.Options.ClientCertificateCaPath);
        }
    }

    public SessionContext Context { get; }

    /// <summary>Refused connections: each logged at Debug, summed up at Information once per interval.</summary>
    public ConnectionRefusals Refusals { get; }

    public SessionManager Sessions { get; }

    public SubscriptionIndex Subscriptions { get; }

    public RetainedMessages Retained { get; }

    public MessageDispatcher Dispatcher { get; }

    public ConnectRateLimiter ConnectRate { get; }

    public BrokerCommandChannel Commands { get; }

    public SecurityOptions Security { get; }

    public ILogger Logger { get; }

    /// <summary>Checks credentials; null when no identity registry is configured (then only anonymous access exists).</summary>
    public IIdentityAuthenticator? Authenticator { get; }

    /// <summary>Topic rights; null means every authenticated or anonymous client may use every topic.</summary>
    public IAccessControl? AccessControl { get; }

    /// <summary>Back-off after failed logins; null without an identity registry.</summary>
    public LoginBackoff? LoginBackoff { get; }

    /// <summary>The CA device certificates must chain to; null when certificate authentication is off.</summary>
    public X509Certificate2? ClientCertificateAuthority { get; }

    /// <summary>
    /// Whether a new connection from <paramref name="remote"/> is within <c>Iot:Mqtt:ConnectRatePerAddress</c>, and
    /// after what <paramref name="delay"/> its CONNECT may be answered (zero within the burst; at most
    /// <c>Iot:Mqtt:ConnectRateMaxDelaySeconds</c>); counted in <c>/metrics</c> when delayed or refused.
    /// </summary>
    public bool TryAcceptFrom(System.Net.EndPoint? remote, out TimeSpan delay)
    {
        if (!ConnectRate.TryAcquire(SourceAddress(remote), out delay))
        {
            Context.Metrics.LimitHit(LimitKind.ConnectRatePerAddress);
            return false;
        }

        if (delay > TimeSpan.Zero)
        {
            Context.Metrics.LimitHit(LimitKind.ConnectRateDelayed);
        }

        return true;
    }

    /// <summary>The address limits count a client by: its IP address, an IPv4 peer on the dual-stack listener as IPv4.</summary>
    public static System.Net.IPAddress? SourceAddress(System.Net.EndPoint? remote)
    {
        var address = (remote as System.Net.IPEndPoint)?.Address;
        return address is { IsIPv4MappedToIPv6: true } ? address.MapToIPv4() : address;
    }

    /// <summary>Counts an accepted client against the connection quotas; false (nothing counted) when a quota is full.</summary>
    public bool TryAdmit(string? identity, out LimitKind refusedBy)
    {
        refusedBy = default;
        if (Interlocked.Increment(ref _clients) > Context.Options.MaxConnections)
        {
            Interlocked.Decrement(ref _clients);
            refusedBy = LimitKind.MaxConnections;
            return false;
        }

        if (identity is not null)
        {
            var count = _perIdentity.AddOrUpdate(identity, 1, static (_, c) => c + 1);
            if (count > Context.Options.MaxConnectionsPerIdentity)
            {
                Release(identity);
                refusedBy = LimitKind.MaxConnectionsPerIdentity;
                return false;
            }
        }

        return true;
    }

    /// <summary>Gives back what <see cref="TryAdmit"/> counted.</summary>
    public void Release(string? identity)
    {
        Interlocked.Decrement(ref _clients);
        if (identity is not null)
        {
            var left = _perIdentity.AddOrUpdate(identity, 0, static (_, c) => c - 1);
            if (left <= 0)
            {
                _perIdentity.TryRemove(new KeyValuePair<string, int>(identity, left));
            }
        }
    }

    /// <summary>
    /// Closes every connection of an identity whose rights changed (disabled, deleted, credentials rotated), with
    /// DISCONNECT 0x87 (Not authorized) for MQTT 5 clients; they must authenticate again.
    /// </summary>
    public int CloseConnectionsOf(string identity)
    {
        var closed = 0;
        foreach (var connection in Sessions.Connections)
        {
            if (string.Equals(connection.Identity, identity, StringComparison.Ordinal))
            {
                connection.Close(MQTTnet.Protocol.MqttDisconnectReasonCode.NotAuthorized);
                closed++;
            }
        }

        return closed;
    }

    /// <summary>Ends every session a deleted identity owned, with what was queued for it.</summary>
    public void EndSessionsOf(string identity)
    {
        var ended = Sessions.EndSessionsOf(identity);
        if (ended > 0)
        {
            BrokerLog.SessionsOfDeletedIdentityEnded(Logger, identity, ended);
        }
    }

    /// <summary>True when <paramref name="certificate"/> chains to <see cref="ClientCertificateAuthority"/> and is valid now.</summary>
    public bool IsTrustedClientCertificate(X509Certificate2 certificate)
    {
        if (ClientCertificateAuthority is null)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ClientCertificateAuthority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = Context.Time.GetUtcNow().UtcDateTime;

        // Every certificate of the chain that restricts its Extended Key Usage must allow client authentication.
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(ClientCertificates.ClientAuthenticationOid));
        return chain.Build(certificate);
    }
}
