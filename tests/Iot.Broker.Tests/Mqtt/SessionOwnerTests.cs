using Iot.Broker.Mqtt;

namespace Iot.Broker.Tests.Mqtt;

/// <summary>A session's owner in memory and in the session store's form (identity id, empty for anonymous, null when not recorded).</summary>
public sealed class SessionOwnerTests
{
    [Theory]
    [InlineData("svc")]
    [InlineData("")]
    [InlineData(null)]
    public void StoredForm_RoundTrips(string? stored) => Assert.Equal(stored, SessionOwner.FromStored(stored).Stored);

    [Fact]
    public void AnIdentitysSession_IsUsableByThatIdentityOnly()
    {
        var owner = SessionOwner.Of("svc");

        Assert.True(owner.MayBeUsedBy("svc"));
        Assert.False(owner.MayBeUsedBy("other"));
        Assert.False(owner.MayBeUsedBy(null));
    }

    [Fact]
    public void AnAnonymousSession_IsUsableByAnonymousClientsOnly()
    {
        var owner = SessionOwner.FromStored("");

        Assert.Null(owner.Identity);
        Assert.True(owner.MayBeUsedBy(null));
        Assert.False(owner.MayBeUsedBy("svc"));
    }

    [Fact]
    public void ASessionWithoutARecordedOwner_IsUsableByTheFirstWhoResumesIt()
    {
        var owner = SessionOwner.NotRecorded;

        Assert.True(owner.Unknown);
        Assert.True(owner.MayBeUsedBy("svc"));
        Assert.True(owner.MayBeUsedBy(null));
    }
}
