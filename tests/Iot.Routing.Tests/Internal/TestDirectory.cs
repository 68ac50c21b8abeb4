namespace Iot.Routing.Tests.Internal;

/// <summary>A unique directory under the temp directory, deleted on dispose.</summary>
internal sealed class TestDirectory : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"iot-routing-{Guid.NewGuid():N}");

    public TestDirectory() => Directory.CreateDirectory(Path);

    public string Database => System.IO.Path.Combine(Path, "routing.db");

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp directory must not fail the test.
        }
    }
}
