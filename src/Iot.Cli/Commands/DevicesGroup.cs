using System.CommandLine;
using System.Text.Json;
using Iot.Cli.Http;
using Iot.Cli.Output;

namespace Iot.Cli.Commands;

/// <summary><c>iot devices</c>: identities (devices, services, dashboards) through <c>/api/devices</c>.</summary>
internal sealed class DevicesGroup : CommandGroup
{
    /// <inheritdoc/>
    public override Command Create(CliActions cli)
    {
        var id = CliOptions.Text("id", "The identity's id: device id, MQTT username and certificate CN.");
        var role = new Option<string>("--role")
        {
            Description = "device, service (may use the API) or dashboard (may read the API).",
            DefaultValueFactory = _ => "device",
        };
        role.AcceptOnlyFromAmong("device", "service", "dashboard");

        return Command("devices", "Identities: create, list, show, disable, enable, rotate credentials, delete.",
            cli.Run(Command("list", "List the identities (no secrets)."), ListAsync),
            cli.Run(Command("get", "Show one identity.", id), (c, ct) => ShowAsync(c, HttpMethod.Get, Path(c.Get(id)), ct)),
            cli.Run(Command("create", "Create an identity; prints its password (and API key) once.", id, role), async (c, ct) =>
            {
                var response = await c.Api.SendJsonAsync(HttpMethod.Post, "/api/devices", new { Id = c.Get(id), Role = c.Get(role) }, ct).ConfigureAwait(false);
                return PrintWithSecrets(c, response);
            }),
            cli.Run(Command("disable", "Disable an identity: it can no longer authenticate; its MQTT connections are closed.", id),
                (c, ct) => ShowAsync(c, HttpMethod.Post, Path(c.Get(id)) + "/disable", ct)),
            cli.Run(Command("enable", "Enable a disabled identity.", id), (c, ct) => ShowAsync(c, HttpMethod.Post, Path(c.Get(id)) + "/enable", ct)),
            cli.Run(Command("rotate", "Issue new credentials: the old password and key stop working at once.", id), async (c, ct) =>
            {
                var response = await c.Api.SendJsonAsync(HttpMethod.Post, Path(c.Get(id)) + "/credentials", null, ct).ConfigureAwait(false);
                return PrintWithSecrets(c, response);
            }),
            cli.Run(Command("delete", "Delete an identity.", id), async (c, ct) =>
            {
                await c.Api.SendJsonAsync(HttpMethod.Delete, Path(c.Get(id)), null, ct).ConfigureAwait(false);
                c.Note($"Deleted identity '{c.Get(id)}'.");
                return ExitCodes.Ok;
            }));
    }

    private static string Path(string id) => "/api/devices/" + Query.Segment(id);

    private static async Task<int> ListAsync(CliContext c, CancellationToken ct)
    {
        var response = await c.Api.GetAsync("/api/devices", ct).ConfigureAwait(false);
        return c.Print(response, json =>
        {
            var table = new Table("id", "role", "enabled", "password", "api key", "created", "updated");
            foreach (var device in CliJson.Items(json))
            {
                table.Add(CliJson.Show(device, "id"), CliJson.Show(device, "role"), CliJson.Show(device, "enabled"),
                    YesNo(device, "hasPassword"), YesNo(device, "hasApiKey"), CliJson.Time(device, "createdAt"), CliJson.Time(device, "updatedAt"));
            }

            table.Write(c.Out);
        });
    }

    private static async Task<int> ShowAsync(CliContext c, HttpMethod method, string path, CancellationToken ct)
    {
        var response = await c.Api.SendJsonAsync(method, path, null, ct).ConfigureAwait(false);
        return c.PrintProperties(response, Properties);
    }

    private static int PrintWithSecrets(CliContext c, ApiResponse response)
    {
        c.PrintProperties(response, json => Properties(json).Concat(
            [("Password", CliJson.Text(json, "password")), ("API key", CliJson.Text(json, "apiKey"))]));
        c.Note("The secrets above are shown once: only their hashes are stored.");
        return ExitCodes.Ok;
    }

    private static IEnumerable<(string, string?)> Properties(JsonElement device) =>
    [
        ("Id", CliJson.Show(device, "id")),
        ("Role", CliJson.Show(device, "role")),
        ("Enabled", CliJson.Show(device, "enabled")),
        ("Has password", CliJson.Get(device, "hasPassword").ValueKind == JsonValueKind.Undefined ? null : YesNo(device, "hasPassword")),
        ("Has API key", CliJson.Get(device, "hasApiKey").ValueKind == JsonValueKind.Undefined ? null : YesNo(device, "hasApiKey")),
        ("Created", CliJson.Time(device, "createdAt")),
        ("Updated", CliJson.Time(device, "updatedAt")),
    ];

    private static string YesNo(JsonElement element, string name) => CliJson.Get(element, name).ValueKind == JsonValueKind.True ? "yes" : "no";
}
