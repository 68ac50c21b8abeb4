using Iot.Broker.Cluster.Sessions;

namespace Iot.Broker.Tests.Cluster.Sessions;

/// <summary>Client ids as KV keys and subject tokens: one-to-one, and only characters both accept.</summary>
public sealed class SessionKeyTests
{
    [Theory]
    [InlineData("device-1_a")]
    [InlineData("a.b")]
    [InlineData("a*b>c")]
    [InlineData("with space")]
    [InlineData("=already=41")]
    [InlineData("ümlaut/€/😀")]
    [InlineData("%2E")]
    public void Escape_AnyClientId_IsAValidKeyAndSubjectToken_AndRoundTrips(string clientId)
    {
        var key = SessionKey.Escape(clientId);

        Assert.Matches("^[A-Za-z0-9_=-]+$", key);
        Assert.Equal(clientId, SessionKey.Unescape(key));
    }

    [Fact]
    public void Escape_TwoClientIdsThatDifferOnlyInEscapedCharacters_GetDifferentKeys()
    {
        Assert.NotEqual(SessionKey.Escape("a.b"), SessionKey.Escape("a=2Eb"));
        Assert.NotEqual(SessionKey.Escape("a b"), SessionKey.Escape("a_b"));
    }

    [Fact]
    public void Escape_PlainClientId_IsKeptAsIs()
    {
        Assert.Equal("sensor-42_x", SessionKey.Escape("sensor-42_x"));
    }
}
