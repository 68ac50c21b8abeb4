using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Security;

/// <summary>
/// Issue 16, findings 9, 10 and 13, against the built broker as a child process (whose log is read whole): ids outside
/// the one character set are refused at every entry point, and every HTTP error is problem details without an
/// unhandled-exception log.
/// </summary>
[Collection(BrokerProcessCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class NamesAndHttpErrorsTests(ITestOutputHelper output)
{
    private const int MaxBody = 4096;

    [Fact]
    public async Task InvalidIds_RefusedAtEveryEntryPoint_ValidOnesStillWork()
    {
        using var dataDir = new TempDirectory("iot-names");
        await using var broker = await BrokerProcess.StartAsync(dataDir.Path);
        try
        {
            using var http = Http(broker);

            // Finding 9: '.' and '..' could be created but never addressed (URLs drop dot segments).
            foreach (var id in new[] { ".", "..", " ", "dev\u200F1", "$commands", "a\\b", "-dev", "dev 1", "dev/1", "dév" })
            {
                using var created = await http.PostAsJsonAsync(new Uri("api/devices", UriKind.Relative), new { id, role = "device" });
                await AssertProblemAsync(created, HttpStatusCode.BadRequest, "id");
            }

            using (var valid = await http.PostAsJsonAsync(new Uri("api/devices", UriKind.Relative), new { id = "Sensor_01.floor:2", role = "device" }))
            {
                Assert.Equal(HttpStatusCode.Created, valid.StatusCode);
            }

            // Finding 10: commands to ids that can never be devices are refused, not queued until their TTL.
            foreach (var id in new[] { "%20", "%E2%80%8Fdev", "%24commands", "a%5Cb", "-x" })
            {
                using var content = new StringContent("{}", Encoding.UTF8, "application/json");
                using var response = await http.PostAsync(new Uri($"api/devices/{id}/commands/reboot", UriKind.Relative), content);
                await AssertProblemAsync(response, HttpStatusCode.BadRequest, "device id");
            }

            using (var content = new StringContent("{}", Encoding.UTF8, "application/json"))
            using (var accepted = await http.PostAsync(new Uri("api/devices/Sensor_01.floor:2/commands/reboot", UriKind.Relative), content))
            {
                Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
            }

            // Queues, streams and event subscriptions use the same set.
            using (var queue = await http.PutAsJsonAsync(new Uri("api/queues/a%20b", UriKind.Relative), new { }))
            {
                await AssertProblemAsync(queue, HttpStatusCode.BadRequest, "queue name");
            }

            using (var stream = await http.PutAsJsonAsync(new Uri("api/streams/-s", UriKind.Relative), new { partitions = 1 }))
            {
                await AssertProblemAsync(stream, HttpStatusCode.BadRequest, "stream name");
            }

            using (var subscription = await http.PostAsJsonAsync(new Uri("api/subscriptions", UriKind.Relative),
                new { name = "\u202Esub", filter = new { topicFilter = "devices/+/events/#" }, destination = new { kind = "pull" } }))
            {
                await AssertProblemAsync(subscription, HttpStatusCode.BadRequest, "name");
            }

            // MQTT: a command to an invalid device id is refused (MQTT 5: PUBACK 0x87), not acknowledged and never delivered.
            using var service = new MqttClientFactory().CreateMqttClient();
            await service.ConnectAsync(new MqttClientOptionsBuilder()
                .WithTcpServer(BrokerFixture.Host, broker.MqttPort)
                .WithClientId(TestIds.ClientId("svc"))
                .WithProtocolVersion(MqttProtocolVersion.V500)
                .WithTimeout(TimeSpan.FromSeconds(10))
                .Build());
            foreach (var topic in new[] { "commands/ /reboot", "commands/$commands/reboot", "commands/a\\b/reboot", "commands/..", "commands/dev\u200F/reboot", "commands/dev-1/reboot/ c" })
            {
                var result = await service.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload("{}")
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
                Assert.False(result.IsSuccess, $"'{topic}' was acknowledged");
            }

            var ok = await service.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("commands/Sensor_01.floor:2/reboot/c1").WithPayload("{}")
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            Assert.True(ok.IsSuccess);
            var command = await http.GetFromJsonAsync<JsonElement>(new Uri("api/commands/c1", UriKind.Relative));
            Assert.Equal("Queued", command.GetProperty("status").GetString());
        }
        finally
        {
            output.WriteLine(broker.Output);
        }
    }

    /// <summary>An identity named '..' made before the rule (here written into identities.db) still loads and can be deleted.</summary>
    [Fact]
    public async Task DotDotIdentityFromEarlierVersion_Listed_DeletedByQuery()
    {
        using var dataDir = new TempDirectory("iot-names");
        await using (var first = await BrokerProcess.StartAsync(dataDir.Path))
        {
            Assert.Equal(0, await first.StopAsync());
        }

        using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(dataDir.Path, "identities.db")};Pooling=False"))
        {
            connection.Open();
            using var insert = connection.CreateCommand();
            insert.CommandText = "INSERT INTO identities(id, role, enabled, created_at, updated_at) VALUES('..', 'device', 1, 0, 0)";
            insert.ExecuteNonQuery();
        }

        await using var broker = await BrokerProcess.StartAsync(dataDir.Path);
        try
        {
            using var http = Http(broker);
            var listed = await http.GetFromJsonAsync<JsonElement>(new Uri("api/devices", UriKind.Relative));
            Assert.Contains(listed.EnumerateArray(), d => d.GetProperty("id").GetString() == "..");
            using (var deleted = await http.DeleteAsync(new Uri("api/devices?id=..", UriKind.Relative)))
            {
                Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
            }

            listed = await http.GetFromJsonAsync<JsonElement>(new Uri("api/devices", UriKind.Relative));
            Assert.DoesNotContain(listed.EnumerateArray(), d => d.GetProperty("id").GetString() == "..");
        }
        finally
        {
            output.WriteLine(broker.Output);
        }
    }

    [Fact]
    public async Task HttpErrors_AreProblemDetails_WithoutUnhandledExceptionLogs()
    {
        using var dataDir = new TempDirectory("iot-http-errors");
        await using var broker = await BrokerProcess.StartAsync(dataDir.Path, $"--Iot:Http:MaxRequestBodyBytes={MaxBody}");
        try
        {
            using var http = Http(broker);
            var big = "{\"id\":\"" + new string('x', 2 * MaxBody) + "\"}";

            // Finding 13: a body over the limit was 413 with an empty body and an exception with a stack trace in the log.
            using (var content = new StringContent(big, Encoding.UTF8, "application/json"))
            using (var tooLarge = await http.PostAsync(new Uri("api/devices", UriKind.Relative), content))
            {
                await AssertProblemAsync(tooLarge, HttpStatusCode.RequestEntityTooLarge, MaxBody.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            // The same without Content-Length (chunked): the limit bites while the body is read.
            using (var chunked = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(big))))
            {
                chunked.Headers.ContentType = new("application/cloudevents+json");
                using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("api/events", UriKind.Relative)) { Content = chunked };
                request.Headers.TransferEncodingChunked = true;
                using var response = await http.SendAsync(request);
                await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, null);
            }

            using (var content = new StringContent("{\"id\":", Encoding.UTF8, "application/json"))
            using (var badJson = await http.PostAsync(new Uri("api/devices", UriKind.Relative), content))
            {
                await AssertProblemAsync(badJson, HttpStatusCode.BadRequest, "JSON");
            }

            using (var content = new StringContent("{\"partitions\":", Encoding.UTF8, "application/json"))
            using (var badJson = await http.PutAsync(new Uri("api/streams/s1", UriKind.Relative), content))
            {
                await AssertProblemAsync(badJson, HttpStatusCode.BadRequest, null);
            }

            using (var content = new StringContent("{}", Encoding.UTF8, "application/json"))
            using (var badParameter = await http.PostAsync(new Uri("api/devices/dev-1/commands/reboot?ttl=soon", UriKind.Relative), content))
            {
                await AssertProblemAsync(badParameter, HttpStatusCode.BadRequest, null);
            }

            using (var content = new StringContent("partitions=1", Encoding.UTF8, "text/plain"))
            using (var notJson = await http.PutAsync(new Uri("api/streams/s2", UriKind.Relative), content))
            {
                await AssertProblemAsync(notJson, HttpStatusCode.UnsupportedMediaType, "application/json");
            }

            using (var unknown = await http.GetAsync(new Uri("api/no-such-thing", UriKind.Relative)))
            {
                await AssertProblemAsync(unknown, HttpStatusCode.NotFound, "/api/no-such-thing");
            }

            using (var wrongMethod = await http.DeleteAsync(new Uri("api/commands/abc", UriKind.Relative)))
            {
                await AssertProblemAsync(wrongMethod, HttpStatusCode.MethodNotAllowed, "DELETE");
            }

            // Still serving, and nothing above was logged as a failure.
            using (var health = await http.GetAsync(new Uri("healthz", UriKind.Relative)))
            {
                Assert.True(health.IsSuccessStatusCode);
            }

            using (var metrics = await http.GetAsync(new Uri("metrics", UriKind.Relative)))
            {
                Assert.Contains("iot_mqtt_limit_hits_total{limit=\"http_request_body\"} 2", await metrics.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }

            Assert.DoesNotContain("fail:", broker.Output, StringComparison.Ordinal);
            Assert.DoesNotContain("Exception", broker.Output, StringComparison.Ordinal);
        }
        finally
        {
            output.WriteLine(broker.Output);
        }
    }

    private static HttpClient Http(BrokerProcess broker) =>
        new() { BaseAddress = new Uri($"http://127.0.0.1:{broker.HttpPort}/"), Timeout = TimeSpan.FromSeconds(30) };

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string? detailContains)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(body);
        Assert.Equal((int)status, problem.RootElement.GetProperty("status").GetInt32());
        var detail = problem.RootElement.GetProperty("detail").GetString();
        Assert.False(string.IsNullOrWhiteSpace(detail), body);
        if (detailContains is not null)
        {
            Assert.Contains(detailContains, detail, StringComparison.Ordinal);
        }
    }
}
