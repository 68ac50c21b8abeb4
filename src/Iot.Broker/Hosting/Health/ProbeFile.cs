namespace Iot.Broker.Hosting.Health;

/// <summary>A durable write to a directory for the readiness checks: a probe file written through to the disk, then deleted.</summary>
internal static class ProbeFile
{
    /// <summary>Writes and deletes <c>.health-probe</c> in <paramref name="directory"/>.</summary>
    /// <exception cref="IOException">The directory cannot take the write.</exception>
    /// <exception cref="UnauthorizedAccessException">The directory may not be written.</exception>
    public static async Task WriteAsync(string directory, CancellationToken cancellationToken)
    {
        var probe = Path.Combine(directory, ".health-probe");
        await using (var file = new FileStream(probe, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.WriteThrough | FileOptions.Asynchronous))
        {
            await file.WriteAsync("ok"u8.ToArray(), cancellationToken).ConfigureAwait(false);
        }

        File.Delete(probe);
    }
}
