using System.Globalization;
using Iot.TestUtilities;

namespace Iot.Broker.IntegrationTests;

/// <summary>The broker driven by MQTT.js (tests/tools/node) over TCP and over WebSocket, MQTT 3.1.1 (4) and 5.</summary>
[Collection(MqttJsCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class MqttJsTests(BrokerFixture broker) : MqttJsTestsBase
{
    protected override Uri MqttUri(bool publisher) => broker.MqttUri;

    protected override Uri WebSocketUri(bool publisher) => broker.WebSocketUri;
}

/// <summary>
/// What MQTT.js clients must see from a broker: inherited by the single broker (<see cref="MqttJsTests"/>) and by a
/// cluster whose subscribers and publishers are on different nodes (<see cref="Cluster.ClusterMqttJsTests"/>).
/// </summary>
public abstract class MqttJsTestsBase
{
    // Shared by every script: connect without retries, a hard deadline, one JSON line on success, exit 1 on error.
    private const string Prelude = """
        const mqtt = require('mqtt');
        const env = process.env;
        let stage = 'start';
        const deadline = setTimeout(() => { console.error('timed out at: ' + stage); process.exit(3); }, 20000);
        const base = { protocolVersion: Number(env.PROTOCOL_VERSION), reconnectPeriod: 0, connectTimeout: 10000, clean: true };
        async function connect(suffix, extra) {
          stage = 'connect ' + suffix;
          // Publishers ('-p') and requesters ('-q') connect to PUBLISHER_URL: another node of a cluster.
          const url = (suffix === '-p' || suffix === '-q') ? env.PUBLISHER_URL : env.URL;
          return mqtt.connectAsync(url, { ...base, clientId: env.CLIENT_ID + suffix, ...(extra || {}) }, false);
        }
        function nextMessage(client, topic) {
          return new Promise(resolve => client.on('message', function handler(t, payload, packet) {
            if (t !== topic) return;
            client.removeListener('message', handler);
            const p = packet.properties || {};
            resolve({ topic: t, payload: payload.toString(), qos: packet.qos, retain: packet.retain,
              responseTopic: p.responseTopic || null,
              correlationData: p.correlationData ? p.correlationData.toString() : null,
              userProperties: p.userProperties || null });
          }));
        }
        function run(main) {
          main().then(result => { clearTimeout(deadline); console.log(JSON.stringify(result)); process.exit(0); })
            .catch(e => { console.error('failed at ' + stage + ': ' + ((e && e.stack) || e)); process.exit(1); });
        }

        """;

    [Theory]
    [InlineData("tcp", 4, 0)]
    [InlineData("tcp", 4, 1)]
    [InlineData("tcp", 4, 2)]
    [InlineData("tcp", 5, 0)]
    [InlineData("tcp", 5, 1)]
    [InlineData("tcp", 5, 2)]
    [InlineData("ws", 4, 0)]
    [InlineData("ws", 4, 1)]
    [InlineData("ws", 4, 2)]
    [InlineData("ws", 5, 0)]
    [InlineData("ws", 5, 1)]
    [InlineData("ws", 5, 2)]
    public async Task SubscribePublish_AtQos_RoundTrips(string transport, int protocolVersion, int qos)
    {
        var topic = TestIds.Topic($"mqttjs/{transport}/v{protocolVersion}/qos{qos}");
        const string script = Prelude + """
            run(async () => {
              const qos = Number(env.QOS);
              const sub = await connect('-s');
              stage = 'subscribe';
              const granted = await sub.subscribeAsync(env.TOPIC, { qos });
              const received = nextMessage(sub, env.TOPIC);
              const pub = await connect('-p');
              stage = 'publish';
              await pub.publishAsync(env.TOPIC, 'round trip ' + qos, { qos });
              stage = 'receive';
              const message = await received;
              await pub.endAsync();
              await sub.endAsync();
              return { granted: granted.map(g => g.qos), message };
            });
            """;

        var result = await NodeMqtt.RunForJsonAsync(script, Environment(transport, protocolVersion, topic, "js", ("QOS", qos)));

        Assert.Equal([qos], result.GetProperty("granted").EnumerateArray().Select(g => g.GetInt32()));
        var message = result.GetProperty("message");
        Assert.Equal(topic, message.GetProperty("topic").GetString());
        Assert.Equal($"round trip {qos}", message.GetProperty("payload").GetString());
        Assert.Equal(qos, message.GetProperty("qos").GetInt32());
        Assert.False(message.GetProperty("retain").GetBoolean());
    }

    [Theory]
    [InlineData("tcp", 4)]
    [InlineData("tcp", 5)]
    [InlineData("ws", 4)]
    [InlineData("ws", 5)]
    public async Task Retained_PublishedBeforeSubscribe_DeliveredWithRetainFlag(string transport, int protocolVersion)
    {
        var topic = TestIds.Topic($"mqttjs/{transport}/v{protocolVersion}/retained");
        const string script = Prelude + """
            run(async () => {
              const pub = await connect('-p');
              stage = 'publish retained';
              await pub.publishAsync(env.TOPIC, 'kept', { qos: 1, retain: true });
              const sub = await connect('-s');
              const received = nextMessage(sub, env.TOPIC);
              stage = 'subscribe';
              await sub.subscribeAsync(env.TOPIC, { qos: 1 });
              stage = 'receive retained';
              const message = await received;
              stage = 'clear retained';
              await pub.publishAsync(env.TOPIC, '', { qos: 1, retain: true });
              await pub.endAsync();
              await sub.endAsync();
              return { message };
            });
            """;

        var result = await NodeMqtt.RunForJsonAsync(script, Environment(transport, protocolVersion, topic, "jr"));

        var message = result.GetProperty("message");
        Assert.Equal("kept", message.GetProperty("payload").GetString());
        Assert.True(message.GetProperty("retain").GetBoolean());
        Assert.Equal(1, message.GetProperty("qos").GetInt32());
    }

    [Theory]
    [InlineData("tcp")]
    [InlineData("ws")]
    public async Task RequestResponse_Mqtt5Properties_PassedThrough(string transport)
    {
        var topic = TestIds.Topic($"mqttjs/{transport}/request");
        const string script = Prelude + """
            run(async () => {
              const responseTopic = env.TOPIC + '/response';
              // The responder answers on the request's response topic with its correlation data, as an MQTT 5 service would.
              const responder = await connect('-r');
              stage = 'responder subscribe';
              await responder.subscribeAsync(env.TOPIC, { qos: 1 });
              const request = nextMessage(responder, env.TOPIC).then(async r => {
                await responder.publishAsync(r.responseTopic, 'answer to ' + r.payload,
                  { qos: 1, properties: { correlationData: Buffer.from(r.correlationData), userProperties: { role: 'responder' } } });
                return r;
              });
              const requester = await connect('-q');
              stage = 'requester subscribe';
              await requester.subscribeAsync(responseTopic, { qos: 1 });
              const response = nextMessage(requester, responseTopic);
              stage = 'request';
              await requester.publishAsync(env.TOPIC, 'question', { qos: 1, properties: {
                responseTopic, correlationData: Buffer.from('corr-42'), userProperties: { tenant: 'acme', trace: ['a', 'b'] } } });
              stage = 'receive request';
              const seenByResponder = await request;
              stage = 'receive response';
              const seenByRequester = await response;
              await requester.endAsync();
              await responder.endAsync();
              return { request: seenByResponder, response: seenByRequester, responseTopic };
            });
            """;

        var result = await NodeMqtt.RunForJsonAsync(script, Environment(transport, 5, topic, "jq"));

        var request = result.GetProperty("request");
        Assert.Equal("question", request.GetProperty("payload").GetString());
        Assert.Equal(result.GetProperty("responseTopic").GetString(), request.GetProperty("responseTopic").GetString());
        Assert.Equal("corr-42", request.GetProperty("correlationData").GetString());
        var userProperties = request.GetProperty("userProperties");
        Assert.Equal("acme", userProperties.GetProperty("tenant").GetString());
        Assert.Equal(["a", "b"], userProperties.GetProperty("trace").EnumerateArray().Select(v => v.GetString()));

        var response = result.GetProperty("response");
        Assert.Equal("answer to question", response.GetProperty("payload").GetString());
        Assert.Equal("corr-42", response.GetProperty("correlationData").GetString());
        Assert.Equal("responder", response.GetProperty("userProperties").GetProperty("role").GetString());
    }

    /// <summary>Where subscribers (or, with <paramref name="publisher"/>, publishers) connect over TCP.</summary>
    protected abstract Uri MqttUri(bool publisher);

    /// <summary>Where subscribers (or, with <paramref name="publisher"/>, publishers) connect over WebSocket.</summary>
    protected abstract Uri WebSocketUri(bool publisher);

    private string Url(string transport, bool publisher) => transport switch
    {
        "tcp" => MqttUri(publisher).ToString(),
        "ws" => WebSocketUri(publisher).ToString(),
        _ => throw new ArgumentOutOfRangeException(nameof(transport), transport, "tcp or ws"),
    };

    private Dictionary<string, string> Environment(string transport, int protocolVersion, string topic, string idPrefix, params (string Name, int Value)[] extra)
    {
        var env = new Dictionary<string, string>
        {
            ["URL"] = Url(transport, publisher: false),
            ["PUBLISHER_URL"] = Url(transport, publisher: true),
            ["PROTOCOL_VERSION"] = protocolVersion.ToString(CultureInfo.InvariantCulture),
            ["TOPIC"] = topic,
            ["CLIENT_ID"] = TestIds.ClientId(idPrefix),
        };
        foreach (var (name, value) in extra)
        {
            env[name] = value.ToString(CultureInfo.InvariantCulture);
        }

        return env;
    }
}
