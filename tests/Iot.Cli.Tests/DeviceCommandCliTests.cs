using System.Text.Json;
using Iot.TestUtilities;

namespace Iot.Cli.Tests;

/// <summary>
/// A device command end to end through the CLI: the device's identity made by <c>iot devices create</c>, a real MQTT
/// device that answers, <c>iot commands send</c> + <c>wait</c> + <c>status</c> seeing the answer, and <c>iot clients</c>
/// listing the device.
/// </summary>
[Collection(CliBrokerCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class DeviceCommandCliTests(CliBrokerFixture broker)
{
    private async Task<AnsweringDevice> CreateDeviceAsync(string deviceId, bool answer = true)
    {
        var created = (await broker.IotAsync("devices", "create", deviceId, "--json")).ExpectExit(0).Json();
        return await AnsweringDevice.ConnectAsync(broker, deviceId, created.GetProperty("password").GetString()!, answer);
    }

    [Fact]
    public async Task SendThenWait_DeviceAnswers_WaitPrintsTheAnswerAndExits0()
    {
        var deviceId = TestIds.ClientId("cmd");
        await using var device = await CreateDeviceAsync(deviceId);

        var sent = (await broker.IotAsync("commands", "send", deviceId, "setTarget", "--payload", """{"temperature":24}""", "--json")).ExpectExit(0).Json();
        var commandId = sent.GetProperty("commandId").GetString()!;
        Assert.Equal(deviceId, sent.GetProperty("deviceId").GetString());

        var waited = (await broker.IotAsync("commands", "wait", commandId, "--wait", "60s")).ExpectExit(0);
        Assert.Equal("Completed", waited.Property("Status"));
        Assert.Equal("""{"ok":true,"command":"setTarget","payload":{"temperature":24}}""", waited.Property("Answer"));

        var status = (await broker.IotAsync("commands", "status", commandId, "--json")).ExpectExit(0).Json();
        Assert.Equal("Completed", status.GetProperty("status").GetString());
        Assert.Equal(24, status.GetProperty("answer").GetProperty("payload").GetProperty("temperature").GetInt32());
    }

    [Fact]
    public async Task SendWithWait_DeviceAnswers_PrintsCompletedCommand()
    {
        var deviceId = TestIds.ClientId("cmdw");
        await using var device = await CreateDeviceAsync(deviceId);

        var result = (await broker.IotAsync("commands", "send", deviceId, "ping", "--wait", "60s")).ExpectExit(0);
        Assert.Equal("Completed", result.Property("Status"));
        Assert.Equal("""{"ok":true,"command":"ping","payload":null}""", result.Property("Answer"));
        Assert.Equal(deviceId, result.Property("Device"));
    }

    [Fact]
    public async Task SendWithWait_DeviceAnswersFailed_Exits5()
    {
        var deviceId = TestIds.ClientId("cmdf");
        await using var device = await CreateDeviceAsync(deviceId);

        var sent = (await broker.IotAsync("commands", "send", deviceId, "fail", "--wait", "60s", "--json")).ExpectExit(5).Json();
        Assert.Equal("Failed", sent.GetProperty("status").GetString());
        var commandId = sent.GetProperty("commandId").GetString()!;
        Assert.Equal("Failed", (await broker.IotAsync("commands", "wait", commandId)).ExpectExit(5).Property("Status"));
        Assert.Equal("Failed", (await broker.IotAsync("commands", "status", commandId)).ExpectExit(0).Property("Status"));
    }

    [Fact]
    public async Task Wait_DeviceSilent_Exits4WithTheStatusItReached()
    {
        var deviceId = TestIds.ClientId("cmds");
        await using var device = await CreateDeviceAsync(deviceId, answer: false);

        var commandId = (await broker.IotAsync("commands", "send", deviceId, "reboot", "--json")).ExpectExit(0).Json().GetProperty("commandId").GetString()!;
        var waited = (await broker.IotAsync("commands", "wait", commandId, "--wait", "1s")).ExpectExit(4);
        Assert.Contains(waited.Property("Status"), new[] { "Queued", "Delivered" });
        Assert.Contains("still", waited.StandardError, StringComparison.Ordinal);

        // The API's own wait ends with 504: the CLI prints the command id and exits 4 too.
        var timedOut = (await broker.IotAsync("commands", "send", deviceId, "reboot", "--wait", "1s", "--json")).ExpectExit(4);
        Assert.StartsWith("The device did not answer within 1 s", timedOut.StandardError, StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.String, timedOut.Json().GetProperty("commandId").ValueKind);
        Assert.Contains("iot commands wait", timedOut.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClientsList_ConnectedDevice_ShownInTableAndJson()
    {
        var deviceId = TestIds.ClientId("cli");
        await using var device = await CreateDeviceAsync(deviceId, answer: false);

        var table = (await broker.IotAsync("clients", "list", "--prefix", deviceId)).ExpectExit(0);
        var rows = table.TableRows();
        Assert.Equal(["CLIENT ID", "IDENTITY", "ROLE", "PROTOCOL", "REMOTE", "CONNECTED", "KEEP-ALIVE", "SUBSCRIPTIONS", "QUEUED", "PERSISTENT"], rows[0]);
        Assert.Equal([deviceId, deviceId, "device", "5.0"], rows[1][..4]);
        Assert.StartsWith("1 connected, ", table.OutputLines[^1], StringComparison.Ordinal);

        var json = (await broker.IotAsync("clients", "list", "--prefix", deviceId, "--json")).ExpectExit(0).Json();
        Assert.Equal(1, json.GetProperty("connected").GetInt32());
        Assert.Equal(deviceId, json.GetProperty("clients")[0].GetProperty("clientId").GetString());
    }
}
