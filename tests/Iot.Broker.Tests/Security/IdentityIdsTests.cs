using Iot.Broker.Security;
using Iot.Broker.Security.Identities;

namespace Iot.Broker.Tests.Security;

public sealed class IdentityIdsTests
{
    [Theory]
    [InlineData("dev-1")]
    [InlineData("a")]
    [InlineData("Sensor_01.floor:2")]
    public void Validate_ValidId_Null(string id) => Assert.Null(IdentityIds.Validate(id));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("a+b")]
    [InlineData("a#")]
    [InlineData("with space")]
    [InlineData("ümlaut")]
    [InlineData(".")]
    [InlineData("..")]
    [InlineData("dev\u200F1")]
    [InlineData("$commands")]
    [InlineData("a\\b")]
    public void Validate_InvalidId_SaysWhy(string? id) => Assert.NotNull(IdentityIds.Validate(id));

    [Fact]
    public void Validate_LengthLimit_128Characters()
    {
        Assert.Null(IdentityIds.Validate(new string('x', 128)));
        Assert.Contains("128", IdentityIds.Validate(new string('x', 129)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("device", IdentityRole.Device)]
    [InlineData("Service", IdentityRole.Service)]
    [InlineData("DASHBOARD", IdentityRole.Dashboard)]
    public void TryParseRole_KnownName_AnyCase(string name, IdentityRole expected)
    {
        Assert.True(IdentityIds.TryParseRole(name, out var role));
        Assert.Equal(expected, role);
        Assert.Equal(name.ToLowerInvariant(), IdentityIds.RoleName(role));
    }

    [Theory]
    [InlineData("admin")]
    [InlineData("1")]
    [InlineData(null)]
    public void TryParseRole_UnknownName_False(string? name) => Assert.False(IdentityIds.TryParseRole(name, out _));
}
