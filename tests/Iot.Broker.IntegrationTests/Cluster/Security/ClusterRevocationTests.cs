using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Iot.TestUtilities;
using Iot.TestUtilities.Nats;
using MQTTnet;
using MQTTnet.Formatter;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Security;

/// <summary>
/// Issue 18, done-when item 6 (revocation) and identities cluster-wide: three real nats-server processes, two broker
/// child processes with anonymous access off; identities changed through the HTTP API of one node take effect on the
/// other, with real MQTT clients.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class ClusterRevocationTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string ServiceKey = "cluster-service-key-0123456789abcdef";
    private const string WorkerPassword = "worker-password-0123";
    private const int SessionQuota = 2;
    private const int ConnectionQuota = 3;
    private NatsClusterFixture? _nats;
    private ClusterBrokers? _brokers;

    private ClusterBrokers Brokers => _brokers ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync()
    {
        _nats = await NatsClusterFixture.StartAsync(servers: 3);
        _brokers = await ClusterBrokers.StartAsync(_nats, 2,
            "--Iot:Security:AllowAnonymous=false",
            "--Iot:Security:PasswordIterations=1000",
            "--Iot:Security:Identities:0:Id=cluster-svc",
            "--Iot:Security:Identities:0:Role=Service",
            $"--Iot:Security:Identities:0:ApiKey={ServiceKey}",
            "--Iot:Security:Identities:1:Id=cluster-worker",
            "--Iot:Security:Identities:1:Role=Service",
            $"--Iot:Security:Identities:1:Password={WorkerPassword}",
            "--Iot:Security:Identities:2:Id=cluster-quota",
            "--Iot:Security:Identities:2:Role=Service",
            $"--Iot:Security:Identities:2:Password={WorkerPassword}",
            $"--Iot:Mqtt:MaxPersistentSessionsPerIdentity={SessionQuota}",
            $"--Iot:Mqtt:MaxConnectionsPerIdentity={ConnectionQuota}");
    }

    public async Task DisposeAsync()
    {
        if (_brokers is not null)
        {
            await _brokers.DisposeAsync();
        }

        if (_nats is not null)
        {
            await _nats.DisposeAsync();
        }
    }

    [Fact]
    public async Task DeviceDisabledThroughA_IsClosedOnBWithinOneSecond_EnabledConnectsAgain_DeletedThroughB_IsGoneOnA()
    {
        try
        {
            using var apiA = Api(0);
            using var apiB = Api(1);
            var id = TestIds.ClientId("crev");
            var password = await CreateDeviceAsync(apiA, id);

            // Created through A, it connects on B with its password.
            using var onB = new MqttClientFactory().CreateMqttClient();
            var closed = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
            onB.DisconnectedAsync += _ =>
            {
                closed.TrySetResult(Stopwatch.GetTimestamp());
                return Task.CompletedTask;
            };
            Assert.Equal(MqttClientConnectResultCode.Success, (await ConnectAsync(onB, 1, id, password)).ResultCode);

            // Disabled through A: closed on B within 1 s of A's 2xx.
            using (var disable = await apiA.PostAsync(new Uri($"api/devices/{id}/disable", UriKind.Relative), null))
            {
                Assert.Equal(HttpStatusCode.OK, disable.StatusCode);
            }

            var answered = Stopwatch.GetTimestamp();
            var closedAt = await closed.Task.WaitAsync(TimeSpan.FromSeconds(10));
            var afterAnswer = Stopwatch.GetElapsedTime(answered, closedAt);
            output.WriteLine($"closed on B {afterAnswer.TotalMilliseconds:0.0} ms after A's answer");
            Assert.True(afterAnswer < TimeSpan.FromSeconds(1), $"closed on B {afterAnswer.TotalMilliseconds:0} ms after A answered 200");

            // It can no longer connect on either node.
            for (var node = 0; node < 2; node++)
            {
                using var refused = new MqttClientFactory().CreateMqttClient();
                Assert.NotEqual(MqttClientConnectResultCode.Success, (await ConnectAsync(refused, node, id, password)).ResultCode);
            }

            // Enabled again through B: it connects on A.
            using (var enable = await apiB.PostAsync(new Uri($"api/devices/{id}/enable", UriKind.Relative), null))
            {
                Assert.Equal(HttpStatusCode.OK, enable.StatusCode);
            }

            using var onA = new MqttClientFactory().CreateMqttClient();
            await Eventually.WaitUntilAsync(async () => (await ConnectAsync(onA, 0, id, password)).ResultCode == MqttClientConnectResultCode.Success,
                TimeSpan.FromSeconds(5), "the enabled device connects on A");
            var closedOnA = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            onA.DisconnectedAsync += _ =>
            {
                closedOnA.TrySetResult();
                return Task.CompletedTask;
            };

            // Deleted through B: closed on A, gone from A's API, refused on A.
            using (var delete = await apiB.DeleteAsync(new Uri($"api/devices/{id}", UriKind.Relative)))
            {
                Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
            }

            await closedOnA.Task.WaitAsync(TimeSpan.FromSeconds(1));
            using (var get = await apiA.GetAsync(new Uri($"api/devices/{id}", UriKind.Relative)))
            {
                Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
            }

            using var deleted = new MqttClientFactory().CreateMqttClient();
            Assert.NotEqual(MqttClientConnectResultCode.Success, (await ConnectAsync(deleted, 0, id, password)).ResultCode);
        }
        catch
        {
            output.WriteLine(Brokers.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task DeviceIdAsClientIdOfAnotherIdentity_RefusedWith0x85OnTheOtherNode_DeviceStaysConnected()
    {
        try
        {
            using var apiA = Api(0);
            var id = TestIds.ClientId("cown");
            var password = await CreateDeviceAsync(apiA, id);
            using var device = new MqttClientFactory().CreateMqttClient();
            Assert.Equal(MqttClientConnectResultCode.Success, (await ConnectAsync(device, 0, id, password)).ResultCode);

            // The device's id is reserved for it on every node: B knows it from the shared registry.
            using var worker = new MqttClientFactory().CreateMqttClient();
            var refused = await ConnectAsync(worker, 1, "cluster-worker", WorkerPassword, clientId: id);

            Assert.Equal(MqttClientConnectResultCode.ClientIdentifierNotValid, refused.ResultCode);
            Assert.True(device.IsConnected);
            using var own = new MqttClientFactory().CreateMqttClient();
            Assert.Equal(MqttClientConnectResultCode.Success,
                (await ConnectAsync(own, 1, "cluster-worker", WorkerPassword, clientId: TestIds.ClientId("cown-w"))).ResultCode);
        }
        catch
        {
            output.WriteLine(Brokers.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task PersistentSessionQuota_CountsTheIdentitysSessionsOnEveryNode()
    {
        try
        {
            var ids = Enumerable.Range(0, SessionQuota + 1).Select(_ => TestIds.ClientId("quota")).ToArray();

            // One persistent session on A, one on B: the quota (2) is full, wherever the next one asks.
            Assert.Equal(MqttClientConnectResultCode.Success, await ConnectPersistentAsync(0, ids[0], 3600));
            Assert.Equal(MqttClientConnectResultCode.Success, await ConnectPersistentAsync(1, ids[1], 3600));
            Assert.Equal(MqttClientConnectResultCode.QuotaExceeded, await ConnectPersistentAsync(0, ids[2], 3600));
            Assert.Equal(MqttClientConnectResultCode.QuotaExceeded, await ConnectPersistentAsync(1, ids[2], 3600));

            // The identity's own session resumes on the other node: it is counted already.
            Assert.Equal(MqttClientConnectResultCode.Success, await ConnectPersistentAsync(1, ids[0], 3600));

            // A session that ends gives its place back, to a CONNECT on the other node too.
            Assert.Equal(MqttClientConnectResultCode.Success, await ConnectPersistentAsync(1, ids[1], 0));
            var third = await Eventually.WaitForAsync(
                () => ConnectPersistentAsync(0, ids[2], 3600), code => code == MqttClientConnectResultCode.Success,
                TimeSpan.FromSeconds(15), "the freed place is seen on the other node");
            Assert.Equal(MqttClientConnectResultCode.Success, third);
        }
        catch
        {
            output.WriteLine(Brokers.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task ConnectionQuota_CountsTheIdentitysConnectionsOnEveryNode()
    {
        var clients = new List<IMqttClient>();
        try
        {
            var ids = Enumerable.Range(0, ConnectionQuota + 1).Select(_ => TestIds.ClientId("conq")).ToArray();
            async Task<MqttClientConnectResultCode> OpenAsync(int node, string clientId)
            {
                var client = new MqttClientFactory().CreateMqttClient();
                clients.Add(client);
                return (await ConnectAsync(client, node, "cluster-quota", WorkerPassword, clientId)).ResultCode;
            }

            // Two connections on A and one on B fill the quota (3): B alone holds one, yet refuses a second.
            Assert.Equal(MqttClientConnectResultCode.Success, await OpenAsync(0, ids[0]));
            Assert.Equal(MqttClientConnectResultCode.Success, await OpenAsync(0, ids[1]));
            Assert.Equal(MqttClientConnectResultCode.Success, await OpenAsync(1, ids[2]));
            Assert.Equal(MqttClientConnectResultCode.QuotaExceeded, await OpenAsync(1, ids[3]));

            // Taking over one of its own connections on the other node is not one more.
            Assert.Equal(MqttClientConnectResultCode.Success, await OpenAsync(1, ids[0]));

            // A connection that closes gives its place back, seen on the other node.
            await clients[1].DisconnectAsync();
            var fourth = await Eventually.WaitForAsync(
                () => OpenAsync(1, ids[3]), code => code == MqttClientConnectResultCode.Success,
                TimeSpan.FromSeconds(15), "the freed place is seen on the other node");
            Assert.Equal(MqttClientConnectResultCode.Success, fourth);
        }
        catch
        {
            output.WriteLine(Brokers.Diagnostics());
            throw;
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    /// <summary>Connects the worker with a session that outlives the connection by <paramref name="expiry"/> s, then leaves.</summary>
    private async Task<MqttClientConnectResultCode> ConnectPersistentAsync(int node, string clientId, uint expiry)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        var result = await client.ConnectAsync(new MqttClientOptionsBuilder()
            .WithTcpServer(BrokerFixture.Host, Brokers.MqttPort(node))
            .WithClientId(clientId)
            .WithCredentials("cluster-worker", WorkerPassword)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithCleanStart(expiry == 0)
            .WithSessionExpiryInterval(expiry)
            .WithTimeout(TimeSpan.FromSeconds(10))
            .Build());
        if (client.IsConnected)
        {
            await client.DisconnectAsync();
        }

        return result.ResultCode;
    }

    [Fact]
    public async Task SameIdCreatedThroughBothNodesAtOnce_ExactlyOne201()
    {
        try
        {
            using var apiA = Api(0);
            using var apiB = Api(1);
            var id = TestIds.ClientId("cdup");

            var responses = await Task.WhenAll(
                apiA.PostAsJsonAsync(new Uri("api/devices", UriKind.Relative), new { id }),
                apiB.PostAsJsonAsync(new Uri("api/devices", UriKind.Relative), new { id }));

            Assert.Equal([HttpStatusCode.Created, HttpStatusCode.Conflict], responses.Select(r => r.StatusCode).Order());
            foreach (var response in responses)
            {
                response.Dispose();
            }
        }
        catch
        {
            output.WriteLine(Brokers.Diagnostics());
            throw;
        }
    }

    private HttpClient Api(int node)
    {
        var client = new HttpClient { BaseAddress = Brokers.HttpBaseAddress(node), Timeout = TimeSpan.FromSeconds(15) };
        client.DefaultRequestHeaders.Add("X-Api-Key", ServiceKey);
        return client;
    }

    private static async Task<string> CreateDeviceAsync(HttpClient api, string id)
    {
        using var created = await api.PostAsJsonAsync(new Uri("api/devices", UriKind.Relative), new { id, role = "device" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        using var body = JsonDocument.Parse(await created.Content.ReadAsStringAsync());
        return body.RootElement.GetProperty("password").GetString()!;
    }

    private Task<MqttClientConnectResult> ConnectAsync(IMqttClient client, int node, string username, string password, string? clientId = null) =>
        client.ConnectAsync(new MqttClientOptionsBuilder()
            .WithTcpServer(BrokerFixture.Host, Brokers.MqttPort(node))
            .WithClientId(clientId ?? username)
            .WithCredentials(username, password)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithTimeout(TimeSpan.FromSeconds(10))
            .Build());
}
