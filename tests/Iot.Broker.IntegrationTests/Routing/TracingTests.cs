using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Routing;

/// <summary>
/// Issue 20, tracing: a device's W3C context (MQTT 5 user property <c>traceparent</c>) is continued by the broker's
/// spans (publish, route, send, deliver, the HTTP request) and reaches the webhook in the CloudEvents
/// <c>traceparent</c> extension and the HTTP <c>traceparent</c> header, all in the device's trace. The spans are
/// observed with an <see cref="ActivityListener"/> on the <c>Iot</c> and <c>System.Net.Http</c> sources, as an
/// OpenTelemetry SDK listens; only this test's trace is kept (other brokers run in this process).
/// </summary>
[Trait("Category", "Integration")]
public sealed class TracingTests : IDisposable
{
    private readonly ActivityTraceId _traceId = ActivityTraceId.CreateRandom();
    private readonly ActivitySpanId _deviceSpan = ActivitySpanId.CreateRandom();
    private readonly ConcurrentQueue<Activity> _spans = new();
    private readonly ActivityListener _listener;

    public TracingTests()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is "Iot" or "System.Net.Http" or "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (activity.TraceId == _traceId)
                {
                    _spans.Enqueue(activity);
                }
            },
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public void Dispose() => _listener.Dispose();

    [Fact]
    public async Task DeviceTraceParent_ContinuesThroughPublishRouteAndWebhook()
    {
        await using var broker = await BrokerFixture.StartAsync("--Iot:Routing:WebhookAllowPrivateNetworks=true");
        await using var sink = await WebhookSink.StartAsync();
        using var http = new HttpClient { BaseAddress = broker.HttpBaseUri };
        var subscription = "traced-" + Guid.NewGuid().ToString("N")[..8];
        using (var created = await http.PutAsJsonAsync(new Uri($"api/subscriptions/{subscription}", UriKind.Relative),
            new { filter = new { topicFilter = $"{subscription}/#" }, destination = new { kind = "webhook", endpointUrl = sink.Url.ToString() } }))
        {
            created.EnsureSuccessStatusCode();
        }

        using var device = new MqttClientFactory().CreateMqttClient();
        await device.ConnectAsync(broker.CreateMqttClientOptions(TestIds.ClientId("trace")));
        var traceParent = $"00-{_traceId.ToHexString()}-{_deviceSpan.ToHexString()}-01";
        await device.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic($"{subscription}/door").WithPayload("{\"open\":true}").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithUserProperty("traceparent", System.Text.Encoding.UTF8.GetBytes(traceParent)).Build());

        // The webhook gets the device's trace: in the CloudEvent and in the HTTP request.
        await Eventually.WaitUntilAsync(() => !sink.Events.IsEmpty && !sink.TraceParents.IsEmpty, TimeSpan.FromSeconds(30), "the traced event at the webhook");
        var cloudEventTrace = sink.Events.Single().GetProperty("traceparent").GetString()!;
        Assert.Equal(_traceId.ToHexString(), cloudEventTrace.Split('-')[1]);
        Assert.Equal(_traceId.ToHexString(), sink.TraceParents.First().Split('-')[1]);

        // The spans, each the child of the one before.
        await Eventually.WaitUntilAsync(() => _spans.Any(s => s.OperationName.StartsWith("deliver", StringComparison.Ordinal))
            && _spans.Any(s => s.Source.Name == "System.Net.Http"), TimeSpan.FromSeconds(30), "the delivery spans");
        var publish = Single("publish");
        var route = Single("route");
        var send = Single("send eventSubscription");
        var deliver = Single("deliver " + subscription);
        var request = _spans.Single(s => s.Source.Name == "System.Net.Http");
        Assert.Equal(_deviceSpan, publish.ParentSpanId);
        Assert.Equal(ActivityKind.Consumer, publish.Kind);
        Assert.Equal($"{subscription}/door", publish.GetTagItem("messaging.destination.name"));
        Assert.Equal(publish.SpanId, route.ParentSpanId);
        Assert.Equal(route.SpanId, send.ParentSpanId);
        Assert.Equal(send.SpanId, deliver.ParentSpanId);
        Assert.Equal(deliver.SpanId, request.ParentSpanId);
        Assert.Equal(request.SpanId.ToHexString(), sink.TraceParents.First().Split('-')[2]);
        Assert.Equal(send.SpanId.ToHexString(), cloudEventTrace.Split('-')[2]);
        Assert.Equal("HTTP 200", deliver.GetTagItem("iot.delivery.outcome"));
    }

    [Fact]
    public async Task CommandSentInATrace_ReachesTheDeviceWithItsTraceParent()
    {
        await using var broker = await BrokerFixture.StartAsync();
        var deviceId = TestIds.ClientId("tcmd");
        using var device = new MqttClientFactory().CreateMqttClient();
        var received = new TaskCompletionSource<MqttApplicationMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        device.ApplicationMessageReceivedAsync += e =>
        {
            received.TrySetResult(e.ApplicationMessage);
            return Task.CompletedTask;
        };
        await device.ConnectAsync(broker.CreateMqttClientOptions(deviceId));
        await device.SubscribeAsync($"devices/{deviceId}/commands/#", MqttQualityOfServiceLevel.AtLeastOnce);

        // The caller's span: the HTTP request carries it (traceparent header) into the broker's request span.
        using var http = new HttpClient { BaseAddress = broker.HttpBaseUri };
        using (var caller = new Activity("caller").SetParentId(_traceId, _deviceSpan, ActivityTraceFlags.Recorded).Start())
        {
            using var sent = await http.PostAsync(new Uri($"api/devices/{deviceId}/commands/reboot", UriKind.Relative),
                new StringContent("{}", System.Text.Encoding.UTF8, "application/json"));
            Assert.Equal(System.Net.HttpStatusCode.Accepted, sent.StatusCode);
        }

        var command = await received.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var traceParent = System.Text.Encoding.UTF8.GetString(command.UserProperties.Single(p => p.Name == "traceparent").ValueBuffer.Span);
        Assert.Equal(_traceId.ToHexString(), traceParent.Split('-')[1]);

        await Eventually.WaitUntilAsync(() => _spans.Any(s => s.OperationName == "command deliver"), TimeSpan.FromSeconds(30), "the delivery span");
        var send = Single("command send");
        var deliver = Single("command deliver");
        Assert.Equal(send.SpanId, deliver.ParentSpanId);
        Assert.Equal(deliver.SpanId.ToHexString(), traceParent.Split('-')[2]);
        Assert.Equal(deviceId, deliver.GetTagItem("iot.device.id"));
    }

    [Fact]
    public async Task OtlpConfigured_TheBrokerExportsTheDevicesTrace()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var broker = await BrokerFixture.StartAsync($"--Iot:Telemetry:OtlpEndpoint={receiver.Endpoint}");
        using var device = new MqttClientFactory().CreateMqttClient();
        await device.ConnectAsync(broker.CreateMqttClientOptions(TestIds.ClientId("totlp")));
        var traceId = ActivityTraceId.CreateRandom().ToHexString();
        var parent = ActivitySpanId.CreateRandom().ToHexString();
        await device.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic("devices/totlp/events/door").WithPayload("{}").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithUserProperty("traceparent", System.Text.Encoding.UTF8.GetBytes($"00-{traceId}-{parent}-01")).Build());

        // The batch exporter sends within its delay (5 s by default).
        await Eventually.WaitUntilAsync(() => receiver.Spans.Any(s => s.TraceId == traceId && s.Name == "route"), TimeSpan.FromSeconds(60),
            "the receiver gets the trace's spans");
        var publish = receiver.Spans.Single(s => s.TraceId == traceId && s.Name == "publish");
        Assert.Equal(parent, publish.ParentSpanId);
        Assert.Equal(publish.SpanId, receiver.Spans.Single(s => s.TraceId == traceId && s.Name == "route").ParentSpanId);
    }

    private Activity Single(string name) => Assert.Single(_spans, s => s.OperationName == name);
}
