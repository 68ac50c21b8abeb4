using System.Collections.Frozen;
using System.Security.Cryptography;
using Microsoft.Net.Http.Headers;

namespace Iot.Broker.Dashboard;

/// <summary>
/// Serves the dashboard: <c>/</c> (index.html) and <c>/dashboard/{file}</c>, embedded in the assembly so that the broker
/// serves it from any working directory. The page holds no data (it reads the HTTP API with the user's key), so it needs
/// no authentication. Every answer carries a strong ETag and <c>Cache-Control: no-cache</c>: browsers revalidate
/// (a 304 of a few bytes) and never show a stale page after an upgrade.
/// </summary>
internal static class DashboardEndpoints
{
    private const string ResourcePrefix = "Dashboard/";

    private static readonly Lazy<FrozenDictionary<string, Asset>> Assets = new(Load);

    public static IEndpointRouteBuilder MapDashboard(this IEndpointRouteBuilder endpoints)
    {
        string[] methods = [HttpMethods.Get, HttpMethods.Head];
        endpoints.MapMethods("/", methods, (HttpContext context) => Serve(context, "index.html")).ExcludeFromDescription();
        endpoints.MapMethods("/dashboard/{file}", methods, (string file, HttpContext context) => Serve(context, file)).ExcludeFromDescription();
        return endpoints;
    }

    /// <summary>The embedded files by name (tests check that each one is served).</summary>
    internal static IReadOnlyCollection<string> FileNames => Assets.Value.Keys;

    private static IResult Serve(HttpContext context, string file)
    {
        if (!Assets.Value.TryGetValue(file, out var asset))
        {
            return Results.NotFound();
        }

        var headers = context.Response.Headers;
        headers.ETag = asset.ETag;
        headers.CacheControl = "no-cache";
        headers.XContentTypeOptions = "nosniff";
        if (file.EndsWith(".html", StringComparison.Ordinal))
        {
            headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";
            headers["Referrer-Policy"] = "no-referrer";
        }

        if (context.Request.Headers.IfNoneMatch.Count > 0
            && EntityTagHeaderValue.TryParseList(context.Request.Headers.IfNoneMatch, out var tags)
            && tags.Any(t => t.Equals(EntityTagHeaderValue.Any) || t.Compare(asset.Tag, useStrongComparison: true)))
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }

        return Results.Bytes(asset.Content, asset.ContentType);
    }

    private static FrozenDictionary<string, Asset> Load()
    {
        var assembly = typeof(DashboardEndpoints).Assembly;
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames())
        {
            if (!name.StartsWith(ResourcePrefix, StringComparison.Ordinal))
            {
                continue;
            }

            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var content = copy.ToArray();
            var tag = new EntityTagHeaderValue("\"" + Convert.ToHexStringLower(SHA256.HashData(content))[..20] + "\"");
            var file = name[ResourcePrefix.Length..];
            assets[file] = new Asset(content, ContentTypeOf(file), tag, tag.ToString());
        }

        return assets.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static string ContentTypeOf(string file) => Path.GetExtension(file) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".svg" => "image/svg+xml",
        ".png" => "image/png",
        _ => "application/octet-stream",
    };

    private sealed record Asset(byte[] Content, string ContentType, EntityTagHeaderValue Tag, string ETag);
}
