using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Iot.Broker.Hosting;
using Iot.Broker.Security;
using Iot.Broker.Security.Identities;
using Iot.Routing.ClaimCheck;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Mqtt;

/// <summary>
/// The parts of the broker a connection needs, resolved once and shared by every connection (as Kestrel's
/// <c>ServiceContext</c>), and the two actions on all connections of an identity.
/// </summary>
internal sealed class ConnectionServices
{
    public ConnectionServices(
        BrokerContext context,
        SessionManager sessions,
        SubscriptionIndex subscriptions,
        RetainedMessages retained,
        MessageDispatcher dispatcher,
        ConnectionAdmission admission,
        BrokerCommandChannel commands,
        IOptions<SecurityOptions> security,
        ILoggerFactory loggerFactory,
        IIdentityAuthenticator? authenticator = null,
        IAccessControl? accessControl = null,
        LoginBackoff? loginBackoff = null,
        ISubscriptionBarrier? subscriptionBarrier = null,
        ConnectionEvents? connectionEvents = null,
        ClaimCheckService? claimCheck = null)
    {
        ConnectionEvents = connectionEvents ?? ConnectionEvents.None;
        Context = context;
        Sessions = sessions;
        Subscriptions = subscriptions;
        Retained = retained;
        Dispatcher = dispatcher;
        Admission = admission;
        Commands = commands;
        Security = security.Value;
        Logger = loggerFactory.CreateLogger("Iot.Broker.Mqtt.Connection");
        Refusals = new ConnectionRefusals(Logger, context.Time, TimeSpan.FromSeconds(context.Options.RefusedConnectionsLogIntervalSeconds));
        Authenticator = authenticator;
        AccessControl = accessControl;
        LoginBackoff = loginBackoff;
        SubscriptionBarrier = subscriptionBarrier;
        ClaimCheck = claimCheck is { Options.Enabled: true, Options.Topics.Count: > 0 } ? claimCheck : null;
        if (!string.IsNullOrEmpty(context.Options.ClientCertificateCaPath))
        {
            ClientCertificateAuthority = X509CertificateLoader.LoadCertificateFromFile(context.Options.ClientCertificateCaPath);
        }
    }

    public BrokerContext Context { get; }

    /// <summary>Claim check of large publishes on configured topics; null when off or no topic is configured.</summary>
    public ClaimCheckService? ClaimCheck { get; }

    /// <summary>Refused connections: each logged at Debug, summed up at Information once per interval.</summary>
    public ConnectionRefusals Refusals { get; }

    public SessionManager Sessions { get; }

    public SubscriptionIndex Subscriptions { get; }

    public RetainedMessages Retained { get; }

    public MessageDispatcher Dispatcher { get; }

    /// <summary>The connection quotas: connect rate per address, connections in all and per identity.</summary>
    public ConnectionAdmission Admission { get; }

    public BrokerCommandChannel Commands { get; }

    /// <summary>Crossover events of connections (connected, disconnected with the reason).</summary>
    public ConnectionEvents ConnectionEvents { get; }

    public SecurityOptions Security { get; }

    public ILogger Logger { get; }

    /// <summary>Checks credentials; null when no identity registry is configured (then only anonymous access exists).</summary>
    public IIdentityAuthenticator? Authenticator { get; }

    /// <summary>Topic rights; null means every authenticated or anonymous client may use every topic.</summary>
    public IAccessControl? AccessControl { get; }

    /// <summary>Back-off after failed logins; null without an identity registry.</summary>
    public LoginBackoff? LoginBackoff { get; }

    /// <summary>Cluster mode: what a SUBSCRIBE waits for before its SUBACK; null on one node.</summary>
    public ISubscriptionBarrier? SubscriptionBarrier { get; }

    /// <summary>The CA device certificates must chain to; null when certificate authentication is off.</summary>
    public X509Certificate2? ClientCertificateAuthority { get; }

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
