using System.Text;
using System.Text.RegularExpressions;

namespace Iot.Broker.Hosting.Telemetry;

/// <summary>
/// Keeps <c>/metrics</c> in the format it always had, the Prometheus text format 0.0.4 with <c>name value</c> lines:
/// <list type="bullet">
/// <item>Every scrape is answered in text 0.0.4, whatever its <c>Accept</c> header asks (Prometheus reads it either way).
/// In OpenMetrics a counter's family is named without <c>_total</c>, so the gauge <c>iot_mqtt_connections</c> and the
/// counter <c>iot_mqtt_connections_total</c> would be two families of one name, and the exporter drops both.</item>
/// <item>An unlabelled series is written <c>name value</c> instead of the exporter's <c>name{} value</c>: both are valid,
/// but the dashboard, scripts and tests that read a line such as <c>iot_mqtt_connections 3</c> keep working. Only an empty
/// label set right after the name at the start of a line is removed, so a label value is never touched.</item>
/// </list>
/// The scrape is buffered (tens of kilobytes) and answered uncompressed.
/// </summary>
internal sealed partial class ClassicTextFormatMiddleware(RequestDelegate next)
{
    private const string TextFormat = "text/plain; version=0.0.4";

    public async Task InvokeAsync(HttpContext context)
    {
        context.Request.Headers.Accept = TextFormat;

        // The exporter gzips when asked (a browser always asks); the text is rewritten below, so it must come plain.
        context.Request.Headers.AcceptEncoding = default;
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
        context.Response.Headers.ContentEncoding = default;
        context.Response.ContentLength = bytes.Length;
        await original.WriteAsync(bytes, context.RequestAborted).ConfigureAwait(false);
    }

    [GeneratedRegex(@"^([a-zA-Z_:][a-zA-Z0-9_:]*)\{\}", RegexOptions.Multiline | RegexOptions.CultureInvariant)]
    private static partial Regex EmptyLabelSet();
}
