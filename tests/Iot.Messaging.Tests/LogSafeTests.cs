namespace Iot.Messaging.Tests;

/// <summary>Issue 16, finding 8: values from clients are escaped before they are logged.</summary>
public sealed class LogSafeTests
{
    [Theory]
    [InlineData("a\r\nb", "a\\r\\nb")]
    [InlineData("\u001b[31mred", "\\x1b[31mred")]
    [InlineData("del\u007f c1\u0085 nbsp-ok\u00a0", "del\\x7f c1\\x85 nbsp-ok\u00a0")]
    [InlineData("evil\u202eexe.txt", "evil\\u202eexe.txt")]
    [InlineData("zero\u200bwidth bom\ufeff ls\u2028", "zero\\u200bwidth bom\\ufeff ls\\u2028")]
    [InlineData("back\\slash\0", "back\\\\slash\\x00")]
    [InlineData("Grüße 温度 😀", "Grüße 温度 😀")]
    public void Escape_WritesUnsafeCharactersAsEscapes(string value, string expected) =>
        Assert.Equal(expected, LogSafe.Escape(value));

    [Fact]
    public void Escape_ReturnsTheSameInstanceWhenNothingNeedsEscaping()
    {
        var value = "devices/dev-1/telemetry";
        Assert.Same(value, LogSafe.Escape(value));
        Assert.Null(LogSafe.Escape(null));
    }

    [Fact]
    public void Escape_CutsALongValue()
    {
        var escaped = LogSafe.Escape(new string('x', 70_000));
        Assert.StartsWith(new string('x', LogSafe.MaxLength), escaped, StringComparison.Ordinal);
        Assert.EndsWith($"...(+{70_000 - LogSafe.MaxLength} chars)", escaped, StringComparison.Ordinal);
    }
}
