using System.Text;
using System.Text.RegularExpressions;

namespace Iot.Broker.Hosting.Telemetry;

/// <summary>
/// Writes an unlabelled series of <c>/metrics</c> as <c>name value</c>, as the broker always did, instead of the
/// exporter's <c>name{} value</c>: both are valid Prometheus text, but the dashboard, scripts and tests that read a line
/// such as <c>iot_mqtt_connections 3</c> keep working. Only an empty label set right after the name at the start of a
/// line is removed, so a label value is never touched. The scrape is buffered (tens of kilobytes).
/// </summary>
internal sealed partial class UnlabelledSeriesMiddleware(RequestDelegate next)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var original = context.Response.Body;
        using var buffer = new MemoryStream();
        context.Response.Body = buffer;
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            context.Response.Body = original;
        }

        var text = EmptyLabelSet().Replace(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length), "$1");
        var bytes = Encoding.UTF8.GetBytes(text);
        context.Response.ContentLength = bytes.Length;
        await original.WriteAsync(bytes, context.RequestAborted).ConfigureAwait(false);
    }

    [GeneratedRegex(@"^([a-zA-Z_:][a-zA-Z0-9_:]*)\{\}", RegexOptions.Multiline | RegexOptions.CultureInvariant)]
    private static partial Regex EmptyLabelSet();
}
