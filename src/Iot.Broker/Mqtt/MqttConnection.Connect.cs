using Iot.Broker.Security;
using Iot.Messaging.Topics;
using Microsoft.AspNetCore.Http.Features;
using MQTTnet.Adapter;
using MQTTnet.Exceptions;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Iot.Broker.Mqtt;

internal sealed partial class MqttConnection
{
    private IotPrincipal? _principal;
    private bool _admitted;
    // A struct: its members are called on this field, never on a copy.
    private ClientDeparture _departure;

    /// <summary>The first packet must be CONNECT: detect the protocol version, authenticate, bind the session, CONNACK.</summary>
    private async ValueTask<bool> HandleFirstPacketAsync(ReceivedMqttPacket received)
    {
        if ((received.FixedHeader >> 4) != (int)MqttControlPacketType.Connect)
        {
            _broker.Refusals.Add(MqttConnectReasonCode.ProtocolError, _transport.ConnectionId, "first packet is not CONNECT");
            return false;
        }

        MqttConnectPacket connect;
        try
        {
            var detector = PacketFormatters.Detector;
            detector.DetectProtocolVersion(received);
            _writer.ProtocolVersion = detector.ProtocolVersion;
            connect = (MqttConnectPacket)detector.Decode(received);
        }
        catch (MqttProtocolViolationException ex) when (ProtocolVersion == MqttProtocolVersion.Unknown)
        {
            // Unknown protocol level: answer as MQTT 3.1.1 with "unacceptable protocol version" (0x01) and close.
            Context.Metrics.Add(BrokerCounter.ConnectRejected);
            await _transport.Output.WriteAsync(new byte[] { 0x20, 0x02, 0x00, 0x01 }).ConfigureAwait(false);
            _broker.Refusals.Add(MqttConnectReasonCode.UnsupportedProtocolVersion, _transport.ConnectionId, ex.Message);
            return false;
        }
        catch (Exception ex) when (ex is MqttProtocolViolationException or ArgumentException or InvalidOperationException or IndexOutOfRangeException or FormatException or InvalidCastException or OverflowException)
        {
            return RefuseMalformed(ex.Message);
        }

        // MQTTnet decodes ill-formed UTF-8 as U+FFFD and takes Will QoS 3 as it comes: both are malformed.
        if (PacketStrings.CheckConnect(received.Body) is { } problem)
        {
            return RefuseMalformed(problem);
        }

        _writer.Enable();
        var v5 = IsV5;
        if (v5 && !string.IsNullOrEmpty(connect.AuthenticationMethod))
        {
            return Refuse(MqttConnectReasonCode.BadAuthenticationMethod, "enhanced authentication is not supported");
        }

        if (connect.WillFlag && !TopicNames.IsValidTopicName(connect.WillTopic ?? string.Empty, Context.Options.MaxTopicLength))
        {
            return Refuse(MqttConnectReasonCode.TopicNameInvalid, "invalid will topic");
        }

        var authentication = await AuthenticateAsync(connect).ConfigureAwait(false);
        if (authentication is not { } identity)
        {
            return false;
        }

        var clientId = connect.ClientId ?? string.Empty;
        string? assignedClientId = null;
        if (identity.Role == IdentityRole.Device)
        {
            // A device is its client id (the product contract): it connects as itself or not at all.
            if (clientId.Length == 0)
            {
                clientId = assignedClientId = identity.Username!;
            }
            else if (!string.Equals(clientId, identity.Username, StringComparison.Ordinal))
            {
                Context.Metrics.Add(BrokerCounter.AuthenticationFailures);
                return Refuse(MqttConnectReasonCode.NotAuthorized, "a device must use its identity as client id");
            }
        }
        else if (clientId.Length == 0)
        {
            if (!v5 && !connect.CleanSession)
            {
                return Refuse(MqttConnectReasonCode.ClientIdentifierNotValid, "empty client id with a persistent session");
            }

            clientId = assignedClientId = "auto-" + Guid.NewGuid().ToString("N");
        }

        if (!string.Equals(clientId, identity.Username, StringComparison.Ordinal) && _broker.Authenticator?.IsRegistered(clientId) == true)
        {
            // A registered identity's id is reserved as a client id for that identity, whatever the role of who tries it.
            Context.Metrics.Add(BrokerCounter.ClientIdRefused);
            return Refuse(MqttConnectReasonCode.ClientIdentifierNotValid, "the client id is another identity's id");
        }

        _principal = identity with { ClientId = clientId };
        var acl = _broker.AccessControl?.Compile(_principal);
        _guard.Start(acl);
        if (connect.WillFlag && !CanPublish(connect.WillTopic!))
        {
            Context.Metrics.Add(BrokerCounter.PublishDenied);
            return Refuse(MqttConnectReasonCode.NotAuthorized, "the will topic is not allowed for this identity");
        }

        if (!_broker.Admission.TryAdmit(_principal.Username, out var refusedBy))
        {
            Context.Metrics.LimitHit(refusedBy);
            return refusedBy == LimitKind.ClusterCutOff
                ? Refuse(MqttConnectReasonCode.ServerUnavailable, "this cluster node is cut off from NATS (Iot:Cluster:CutOffTimeout)")
                : Refuse(MqttConnectReasonCode.QuotaExceeded, "connection quota reached: " + refusedBy);
        }

        _admitted = true;
        var keepAlive = (int)connect.KeepAlivePeriod;
        ushort serverKeepAlive = 0;
        var maxKeepAlive = Context.Options.MaxKeepAlive;
        if (maxKeepAlive > 0 && (keepAlive == 0 || keepAlive > maxKeepAlive))
        {
            keepAlive = maxKeepAlive;
            serverKeepAlive = (ushort)maxKeepAlive;
        }

        var requestedExpiry = v5 ? connect.SessionExpiryInterval : (connect.CleanSession ? 0u : uint.MaxValue);
        var sessionExpiry = Math.Min(requestedExpiry, Context.Options.MaxSessionExpiryFor(_principal.Role));
        var clientReceiveMaximum = v5 && connect.ReceiveMaximum > 0 ? connect.ReceiveMaximum : ushort.MaxValue;
        var window = Math.Min(clientReceiveMaximum, Context.Options.MaxInflightMessages);
        _writer.SetClientLimits(v5 ? connect.MaximumPacketSize : 0, v5 ? connect.TopicAliasMaximum : (ushort)0);

        ClientWill? will = null;
        if (connect.WillFlag)
        {
            will = new ClientWill(new BrokerMessage
            {
                Topic = connect.WillTopic!,
                Payload = connect.WillMessage ?? [],
                QualityOfService = (byte)connect.WillQoS,
                Retain = connect.WillRetain,
                // Relative until published: the will's expiry starts when it is sent (see SessionManager.PublishWill).
                ExpiresAtUnixMs = connect.WillMessageExpiryInterval * 1000L,
                ContentType = connect.WillContentType,
                ResponseTopic = connect.WillResponseTopic,
                CorrelationData = connect.WillCorrelationData,
                PayloadFormatIndicator = (byte)connect.WillPayloadFormatIndicator,
                UserProperties = connect.WillUserProperties,
                SourceClientId = clientId,
                RetainedOwnerId = connect.WillRetain ? RetainedOwnerId() : 0,
            }, v5 ? connect.WillDelayInterval : 0);
        }

        _departure.Connected(will, sessionExpiry);

        var binding = await _broker.Sessions.ConnectAsync(
            this, clientId, _principal.Username, acl, connect.CleanSession, sessionExpiry, (byte)ProtocolVersion, will).ConfigureAwait(false);
        switch (binding.Refusal)
        {
            case SessionRefusal.OwnedByAnotherIdentity:
                Context.Metrics.Add(BrokerCounter.ClientIdRefused);
                return Refuse(MqttConnectReasonCode.ClientIdentifierNotValid, "the session of this client id belongs to another identity");
            case SessionRefusal.PersistentSessionQuota:
                Context.Metrics.LimitHit(LimitKind.MaxPersistentSessionsPerIdentity);
                return Refuse(MqttConnectReasonCode.QuotaExceeded, "persistent session quota reached: max_persistent_sessions_per_identity");
            case SessionRefusal.ConnectionQuota:
                Context.Metrics.LimitHit(LimitKind.MaxConnectionsPerIdentity);
                return Refuse(MqttConnectReasonCode.QuotaExceeded, "connection quota of the identity reached on the cluster's nodes: max_connections_per_identity");
            case SessionRefusal.ClusterUnavailable:
                return Refuse(MqttConnectReasonCode.ServerUnavailable, "the cluster could not store the session's claim (NATS JetStream failed, or a newer CONNECT took the client id)");
        }

        var session = binding.Session!;
        var present = binding.SessionPresent;
        if (session.ReadsStreamBacklog && _broker.SubscriptionBarrier is { } barrier)
        {
            // Cluster mode, a persistent session resumed with Session Expiry Interval 0: its new messages come live from
            // now on, its queue only gives the backlog. Every node must have seen its record change before the CONNACK,
            // or a publish right after it, matched by a watch that still has the persistent subscriptions, would also be
            // queued for it and arrive twice.
            await barrier.WhenVisibleAsync().ConfigureAwait(false);
        }

        _session = session;
        _keepAlive.Connected(Context.Time, keepAlive);

        var connack = new MqttConnAckPacket
        {
            IsSessionPresent = present,
            ReasonCode = MqttConnectReasonCode.Success,
            ReturnCode = MqttConnectReturnCode.ConnectionAccepted,
        };
        if (v5)
        {
            connack.ReceiveMaximum = (ushort)Context.Options.ReceiveMaximum;
            connack.MaximumPacketSize = (uint)Context.Options.MaxPacketSize;
            connack.TopicAliasMaximum = (ushort)Context.Options.TopicAliasMaximum;
            connack.MaximumQoS = MqttQualityOfServiceLevel.ExactlyOnce;
            connack.RetainAvailable = true;
            connack.WildcardSubscriptionAvailable = true;
            connack.SharedSubscriptionAvailable = true;
            connack.SubscriptionIdentifiersAvailable = true;
            connack.AssignedClientIdentifier = assignedClientId;
            connack.ServerKeepAlive = serverKeepAlive;
            if (sessionExpiry != requestedExpiry)
            {
                connack.SessionExpiryInterval = sessionExpiry;
            }
        }

        Send(connack);
        if (!session.Attach(this, window))
        {
            // A newer CONNECT with this client id claimed the session while this one was finishing.
            _closeReason = MqttDisconnectReasonCode.SessionTakenOver;
            return false;
        }

        if (present)
        {
            _broker.Commands.NotifyIfReady(session);
        }

        BrokerLog.ClientConnected(_broker.Logger, clientId, (int)ProtocolVersion, connect.CleanSession, present, sessionExpiry);
        if (_broker.ConnectionEvents.Covers(_principal))
        {
            _departure.ConnectedEventRaisedAt(Context.Time.GetTimestamp());
            _broker.ConnectionEvents.Connected(_principal, ProtocolVersion, connect.CleanSession, present, sessionExpiry);
        }

        return true;
    }

    /// <summary>A malformed CONNECT: MQTT 5 gets CONNACK 0x81, MQTT 3.1.1 has no code for it and is closed (§3.1.4).</summary>
    private bool RefuseMalformed(string detail)
    {
        Context.Metrics.Add(BrokerCounter.ConnectRejected);
        _broker.Refusals.Add(MqttConnectReasonCode.MalformedPacket, _transport.ConnectionId, "malformed CONNECT: " + detail);
        if (IsV5)
        {
            _writer.Enable();
            Send(new MqttConnAckPacket { ReasonCode = MqttConnectReasonCode.MalformedPacket });
        }

        return false;
    }

    private bool Refuse(MqttConnectReasonCode reason, string detail)
    {
        Context.Metrics.Add(BrokerCounter.ConnectRejected);
        _broker.Refusals.Add(reason, _transport.ConnectionId, detail);
        Send(new MqttConnAckPacket { ReasonCode = reason, ReturnCode = ToReturnCode(reason) });
        return false;
    }

    private static MqttConnectReturnCode ToReturnCode(MqttConnectReasonCode reason) => reason switch
    {
        MqttConnectReasonCode.UnsupportedProtocolVersion => MqttConnectReturnCode.ConnectionRefusedUnacceptableProtocolVersion,
        MqttConnectReasonCode.ClientIdentifierNotValid => MqttConnectReturnCode.ConnectionRefusedIdentifierRejected,
        MqttConnectReasonCode.BadUserNameOrPassword => MqttConnectReturnCode.ConnectionRefusedBadUsernameOrPassword,
        MqttConnectReasonCode.NotAuthorized => MqttConnectReturnCode.ConnectionRefusedNotAuthorized,
        MqttConnectReasonCode.ServerUnavailable => MqttConnectReturnCode.ConnectionRefusedServerUnavailable,
        MqttConnectReasonCode.QuotaExceeded => MqttConnectReturnCode.ConnectionRefusedServerUnavailable,
        _ => MqttConnectReturnCode.ConnectionRefusedServerUnavailable,
    };

    /// <summary>
    /// Who is connecting: a trusted client certificate (TLS listener with a CA configured), else username and password,
    /// else anonymous when allowed. Refuses (CONNACK sent) and returns null otherwise.
    /// </summary>
    private async ValueTask<IotPrincipal?> AuthenticateAsync(MqttConnectPacket connect)
    {
        await WaitForAdmissionAsync().ConfigureAwait(false);
        var requested = connect.ClientId ?? string.Empty;
        var authenticator = _broker.Authenticator;
        var certificate = _transport.ClientCertificate;
        AuthenticationOutcome outcome;
        if (certificate is not null && _broker.ClientCertificateAuthority is not null)
        {
            if (!_broker.IsTrustedClientCertificate(certificate) || authenticator is null)
            {
                Context.Metrics.Add(BrokerCounter.AuthenticationFailures);
                Refuse(MqttConnectReasonCode.BadUserNameOrPassword, "client certificate does not chain to the configured CA");
                return null;
            }

            outcome = await authenticator.AuthenticateCertificateAsync(certificate, CancellationToken.None).ConfigureAwait(false);
        }
        else if (connect.Username is not null && authenticator is not null)
        {
            if (await VerifyPasswordAsync(authenticator, connect.Username, connect.Password ?? []).ConfigureAwait(false) is not { } verified)
            {
                return null;
            }

            outcome = verified;
        }
        else if (_broker.Security.AllowAnonymous)
        {
            return new IotPrincipal(requested, null, null);
        }
        else
        {
            Context.Metrics.Add(BrokerCounter.AuthenticationFailures);
            Refuse(MqttConnectReasonCode.NotAuthorized, "no credentials, and anonymous access is disabled (Iot:Security:AllowAnonymous)");
            return null;
        }

        if (!outcome.Succeeded)
        {
            Context.Metrics.Add(BrokerCounter.AuthenticationFailures);
            Refuse(MqttConnectReasonCode.BadUserNameOrPassword, "authentication failed: " + outcome.Failure);
            return null;
        }

        return new IotPrincipal(requested, outcome.IdentityId, outcome.Role);
    }

    /// <summary>The authenticated identity of this connection; null while connecting or when anonymous.</summary>
    public string? Identity => _principal?.Username;

    private void HandleDisconnect(MqttDisconnectPacket disconnect)
    {
        switch (_departure.OnDisconnect(disconnect, IsV5 && _session is not null))
        {
            case DepartureVerdict.ProtocolError:
                // MQTT 5 §3.14.2.2.2: a session that was not persistent cannot become so at DISCONNECT.
                Violation(MqttDisconnectReasonCode.ProtocolError, "DISCONNECT sets a session expiry after CONNECT set 0");
                break;
            case DepartureVerdict.SetSessionExpiry:
                _session!.SessionExpiryInterval = Math.Min(disconnect.SessionExpiryInterval, Context.Options.MaxSessionExpiryFor(_principal?.Role));
                break;
        }
    }
}
