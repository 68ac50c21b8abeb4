namespace Iot.Cli;

/// <summary>
/// A body given on the command line as <c>curl -d</c> takes it: the text itself, <c>@path</c> for a file's bytes, or
/// <c>-</c> for standard input.
/// </summary>
internal static class BodyInput
{
    /// <summary>The bytes <paramref name="value"/> names; null when no body was given.</summary>
    /// <exception cref="UsageException">The file cannot be read.</exception>
    public static async Task<byte[]?> ReadAsync(string? value, CancellationToken cancellationToken)
    {
        switch (value)
        {
            case null:
                return null;
            case "-":
                using (var stdin = Console.OpenStandardInput())
                using (var buffer = new MemoryStream())
                {
                    await stdin.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
                    return buffer.ToArray();
                }

            case ['@', .. var path]:
                try
                {
                    return await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    throw new UsageException($"Cannot read the body file '{path}': {ex.Message}", ex);
                }

            default:
                return System.Text.Encoding.UTF8.GetBytes(value);
        }
    }
}
