using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Iot.TestUtilities;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.OpenApi;

namespace Iot.Broker.IntegrationTests.OpenApi;

/// <summary>The broker that the OpenAPI tests share.</summary>
[CollectionDefinition(Name)]
public sealed class OpenApiCollectionDefinition : ICollectionFixture<BrokerFixture>
{
    public const string Name = "openapi";
}

/// <summary>
/// The OpenAPI document the broker serves at <c>/openapi/v1.json</c>: it validates, it describes every endpoint the
/// broker maps, the checked-in copy (<c>docs/openapi/v1.json</c>, from which the tests' client is generated) is the
/// same, and it and its page are served without an API key and without anything from outside the broker.
/// </summary>
[Collection(OpenApiCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed partial class OpenApiDocumentTests(BrokerFixture broker) : IDisposable
{
    /// <summary>Set to 1 to write the served document to <c>docs/openapi/v1.json</c> (after changing an endpoint).</summary>
    private const string UpdateVariable = "IOT_UPDATE_OPENAPI";

    /// <summary>
    /// Mapped endpoints the document leaves out, and why: <c>/mqtt</c> is MQTT over WebSocket (a connection handler with
    /// its negotiate endpoint: no request and response for OpenAPI to describe); <c>/</c> and <c>/dashboard/{file}</c>
    /// are the dashboard's page and files (docs/dashboard.md); the document's own route serves the document.
    /// </summary>
    private static readonly string[] Excluded = ["/mqtt", "/mqtt/negotiate", "/", "/dashboard/{file}", "/openapi/{documentName}.json"];

    private readonly HttpClient _http = new() { BaseAddress = broker.HttpBaseUri, Timeout = TimeSpan.FromSeconds(30) };

    private static string CheckedInPath => Path.Combine(RepositoryPaths.Root, "docs", "openapi", "v1.json");

    [Fact]
    public async Task ServedDocument_ParsesAndValidates_WithNoError()
    {
        var json = await _http.GetStringAsync(new Uri("openapi/v1.json", UriKind.Relative));

        var read = OpenApiDocument.Parse(json, "json");

        Assert.True(read.Diagnostic?.Errors.Count is null or 0, string.Join("\n", read.Diagnostic?.Errors.Select(e => e.ToString()) ?? []));
        var document = read.Document;
        Assert.NotNull(document);
        Assert.Equal(OpenApiSpecVersion.OpenApi3_1, read.Diagnostic!.SpecificationVersion);
        var errors = document.Validate(ValidationRuleSet.GetDefaultRuleSet())?.ToList() ?? [];
        Assert.True(errors.Count == 0, string.Join("\n", errors.Select(e => $"{e.Pointer}: {e.Message}")));
        Assert.Equal("Iot broker API", document.Info.Title);
        Assert.Contains("apiKey", document.Components!.SecuritySchemes!.Keys);
    }

    [Fact]
    public async Task Document_DescribesEveryMappedEndpoint_AndNoOther()
    {
        var document = await ReadServedDocumentAsync();
        var described = new HashSet<(string Method, string Path)>();
        foreach (var (path, item) in document.Paths)
        {
            foreach (var method in item.Operations!.Keys)
            {
                described.Add((method.Method, path));
            }
        }

        var mapped = new HashSet<(string Method, string Path)>();
        foreach (var endpoint in broker.App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>())
        {
            var path = PathOf(endpoint.RoutePattern.RawText!);
            if (Excluded.Contains(path))
            {
                continue;
            }

            // MapHealthChecks maps the probes for every method; the document describes GET, the probes' method.
            var methods = endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? [HttpMethods.Get];
            foreach (var method in methods)
            {
                mapped.Add((method, path));
            }
        }

        Assert.Empty(mapped.Except(described).Select(e => $"{e.Method} {e.Path} is mapped but not in the document"));
        Assert.Empty(described.Except(mapped).Select(e => $"{e.Method} {e.Path} is in the document but not mapped"));
        Assert.Contains(("POST", "/api/devices"), described);
        Assert.Contains(("GET", "/healthz/ready"), described);
    }

    [Fact]
    public async Task Document_EveryOperation_IsNamedSummarisedWithItsParametersDescribed_AndEveryApiOneSecuredWithProblems()
    {
        var document = await ReadServedDocumentAsync();
        var missing = new List<string>();
        foreach (var (path, item) in document.Paths)
        {
            foreach (var (method, operation) in item.Operations!)
            {
                var where = $"{method.Method} {path}";
                if (string.IsNullOrEmpty(operation.OperationId) || string.IsNullOrEmpty(operation.Summary) || operation.Tags is not { Count: > 0 })
                {
                    missing.Add($"{where}: operationId, summary or tag");
                }

                foreach (var parameter in operation.Parameters ?? [])
                {
                    if (string.IsNullOrEmpty(parameter.Description))
                    {
                        missing.Add($"{where}: description of the {parameter.In} parameter {parameter.Name}");
                    }
                }

                if (!operation.Responses!.Keys.Any(status => status.StartsWith('2')))
                {
                    missing.Add($"{where}: no success response");
                }

                if (path.StartsWith("/api/", StringComparison.Ordinal))
                {
                    if (operation.Security is not { Count: 2 })
                    {
                        missing.Add($"{where}: security (X-Api-Key or Bearer)");
                    }

                    foreach (var status in new[] { "401", "403" })
                    {
                        if (!operation.Responses.TryGetValue(status, out var problem) || problem.Content?.ContainsKey("application/problem+json") != true)
                        {
                            missing.Add($"{where}: problem {status}");
                        }
                    }
                }
            }
        }

        Assert.Empty(missing);
    }

    [Fact]
    public async Task CheckedInDocument_EqualsTheServedOne()
    {
        var served = await _http.GetStringAsync(new Uri("openapi/v1.json", UriKind.Relative));
        if (Environment.GetEnvironmentVariable(UpdateVariable) == "1")
        {
            await File.WriteAllTextAsync(CheckedInPath, served);
        }

        var checkedIn = await File.ReadAllTextAsync(CheckedInPath);

        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(served), JsonNode.Parse(checkedIn)),
            $"docs/openapi/v1.json differs from the document the broker serves; after changing an endpoint run "
            + $"{UpdateVariable}=1 dotnet test -c Release tests/Iot.Broker.IntegrationTests --filter FullyQualifiedName~OpenApiDocumentTests and commit the file.");
    }

    [Fact]
    public async Task DocumentAndPage_WithoutAnonymousAccess_AreServedWithoutAKey_WhileTheApiAsksForOne()
    {
        await using var closed = await BrokerFixture.StartAsync("--Iot:Security:AllowAnonymous=false");
        using var http = new HttpClient { BaseAddress = closed.HttpBaseUri, Timeout = TimeSpan.FromSeconds(30) };

        using var document = await http.GetAsync(new Uri("openapi/v1.json", UriKind.Relative));
        using var page = await http.GetAsync(new Uri("openapi/ui/index.html", UriKind.Relative));
        using var api = await http.GetAsync(new Uri("api/devices", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, document.StatusCode);
        Assert.Equal("application/json", document.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, api.StatusCode);
        Assert.Equal("application/problem+json", api.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Page_AndEveryFileItLoads_AreServedByTheBroker()
    {
        using var redirect = await _http.GetAsync(new Uri("openapi/ui/", UriKind.Relative));
        var page = await _http.GetStringAsync(new Uri("openapi/ui/index.html", UriKind.Relative));

        var files = AssetReference().Matches(page).Select(m => m.Groups["url"].Value).ToList();
        Assert.Contains(files, f => f.EndsWith("swagger-ui-bundle.js", StringComparison.Ordinal));
        Assert.Contains(files, f => f.EndsWith(".css", StringComparison.Ordinal));
        var pageUri = new Uri(broker.HttpBaseUri, "openapi/ui/index.html");
        foreach (var file in files)
        {
            // Offline: every script, style and icon is relative to the page, served from the broker's assembly.
            Assert.False(Uri.TryCreate(file, UriKind.Absolute, out _) || file.StartsWith("//", StringComparison.Ordinal), $"{file} is not the broker's");
            using var response = await _http.GetAsync(new Uri(pageUri, file));
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{file}: {(int)response.StatusCode}");
            Assert.True((await response.Content.ReadAsByteArrayAsync()).Length > 0, $"{file} is empty");
        }

        // The page's settings name the document relative to the page: /openapi/v1.json.
        var settings = await _http.GetStringAsync(new Uri(pageUri, "index.js"));
        Assert.Contains("../v1.json", settings, StringComparison.Ordinal);
        using var document = await _http.GetAsync(new Uri(pageUri, "../v1.json"));
        Assert.Equal(HttpStatusCode.OK, document.StatusCode);
        Assert.True(redirect.IsSuccessStatusCode, $"/openapi/ui/ answered {(int)redirect.StatusCode}");
    }

    public void Dispose() => _http.Dispose();

    /// <summary>A route pattern as an OpenAPI path: no constraints (<c>{partition:int}</c> is <c>{partition}</c>), no trailing slash.</summary>
    private static string PathOf(string pattern)
    {
        var path = "/" + RouteConstraint().Replace(pattern, "{${name}}").Trim('/');
        return path;
    }

    private async Task<OpenApiDocument> ReadServedDocumentAsync()
    {
        var json = await _http.GetStringAsync(new Uri("openapi/v1.json", UriKind.Relative));
        return OpenApiDocument.Parse(json, "json").Document ?? throw new InvalidOperationException("The served document did not parse.");
    }

    [GeneratedRegex(@"\{(?<name>[^}:=?]+)[^}]*\}")]
    private static partial Regex RouteConstraint();

    [GeneratedRegex(@"(?:src|href)=""(?<url>[^""]+)""")]
    private static partial Regex AssetReference();
}
