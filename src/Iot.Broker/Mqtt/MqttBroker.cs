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
        IAccessControl? accessControl = null)
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
        Authenticator = authenticator;
        AccessControl = accessControl;
        if (!string.IsNullOrEmpty(context.Options.ClientCertificateCaPath))
        {
            ClientCertificateAuthority = X509CertificateLoader.LoadCertificateFromFile(context.Options.ClientCertificateCaPath);
        }
    }

    public SessionContext Context { get; }

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

    /// <summary>The CA device certificates must chain to; null when certificate authentication is off.</summary>
    public X509Certificate2? ClientCertificateAuthority { get; }

    /// <summary>
    /// Whether a new connection from <paramref name="remote"/> is within <c>Iot:Mqtt:ConnectRatePerAddress</c> (an
    /// IPv4 peer on the dual-stack listener counts as its IPv4 address); counted in <c>/metrics</c> when refused.
    /// </summary>
    public bool TryAcceptFrom(System.Net.EndPoint? remote)
    {
        var address = (remote as System.Net.IPEndPoint)?.Address;
        if (address is { IsIPv4MappedToIPv6: true })
        {
            address = address.MapToIPv4();
        }

        if (ConnectRate.TryAcquire(address))
        {
            return true;
        }

        Context.Metrics.LimitHit(LimitKind.ConnectRatePerAddress);
        return false;
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
