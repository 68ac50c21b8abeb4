using System.Net;
using System.Net.Sockets;
using Iot.Routing.Hosting;

namespace Iot.Routing.Subscriptions;

/// <summary>
/// Which addresses a webhook may reach. Unless <see cref="RoutingOptions.WebhookAllowPrivateNetworks"/> is on, loopback,
/// private, link-local (cloud metadata services live there), shared (CGNAT), unspecified, multicast, broadcast and
/// reserved addresses are refused, IPv4 embedded in IPv6 (mapped, compatible, NAT64, 6to4) judged as its IPv4 address;
/// networks in <see cref="RoutingOptions.WebhookAllowedNetworks"/> are allowed anyway.
/// </summary>
/// <remarks>
/// Checked twice: when a subscription is created (a URL whose host is a refused literal address, in any form
/// <see cref="Uri"/> accepts such as <c>0x7f000001</c>, <c>2130706433</c>, <c>127.1</c>, <c>[::ffff:127.0.0.1]</c>, or a
/// <c>localhost</c> name) and on every connection, after DNS resolution, by <see cref="WebhookConnector"/>.
/// </remarks>
internal sealed class WebhookAddressPolicy
{
    private static readonly (IPNetwork Network, string Kind)[] RefusedV4 =
    [
        (IPNetwork.Parse("0.0.0.0/8"), "unspecified"), // "this network", 0.0.0.0 included
        (IPNetwork.Parse("10.0.0.0/8"), "private"),
        (IPNetwork.Parse("100.64.0.0/10"), "shared (carrier-grade NAT)"), // Alibaba's metadata service
        (IPNetwork.Parse("127.0.0.0/8"), "loopback"),
        (IPNetwork.Parse("169.254.0.0/16"), "link-local"), // AWS, Azure, GCP metadata at 169.254.169.254
        (IPNetwork.Parse("172.16.0.0/12"), "private"),
        (IPNetwork.Parse("192.0.0.0/24"), "reserved"), // IETF protocol assignments
        (IPNetwork.Parse("192.168.0.0/16"), "private"),
        (IPNetwork.Parse("198.18.0.0/15"), "reserved"), // benchmarking
        (IPNetwork.Parse("224.0.0.0/4"), "multicast"),
        (IPNetwork.Parse("240.0.0.0/4"), "reserved"), // 255.255.255.255 included
    ];

    private static readonly (IPNetwork Network, string Kind)[] RefusedV6 =
    [
        (IPNetwork.Parse("::/128"), "unspecified"),
        (IPNetwork.Parse("::1/128"), "loopback"),
        (IPNetwork.Parse("fc00::/7"), "private"), // unique local; AWS's IPv6 metadata fd00:ec2::254
        (IPNetwork.Parse("fe80::/10"), "link-local"),
        (IPNetwork.Parse("fec0::/10"), "private"), // site-local (deprecated, still routed by some stacks)
        (IPNetwork.Parse("ff00::/8"), "multicast"),
    ];

    private readonly bool _allowPrivate;
    private readonly IPNetwork[] _allowed;

    public WebhookAddressPolicy(bool allowPrivateNetworks, IEnumerable<IPNetwork>? allowedNetworks = null)
    {
        _allowPrivate = allowPrivateNetworks;
        _allowed = [.. allowedNetworks ?? []];
    }

    /// <summary>From the resolved options (see <see cref="RoutingOptions.WebhookAllowPrivateNetworks"/>).</summary>
    public WebhookAddressPolicy(RoutingOptions options)
        : this(options?.WebhookAllowPrivateNetworks ?? false, ParseNetworks(options?.WebhookAllowedNetworks))
    {
    }

    /// <summary>Whether the policy refuses anything at all.</summary>
    public bool AllowsEverything => _allowPrivate;

    /// <summary>Why <paramref name="address"/> is refused (for example <c>loopback</c>), or null when it may be reached.</summary>
    public string? Check(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (_allowPrivate)
        {
            return null;
        }

        foreach (var network in _allowed)
        {
            if (network.BaseAddress.AddressFamily == address.AddressFamily && network.Contains(address))
            {
                return null;
            }
        }

        var reason = Classify(address);
        if (reason is not null && address.AddressFamily == AddressFamily.InterNetworkV6 && Embedded(address) is { } v4)
        {
            // An allow-listed IPv4 network also allows its IPv4-mapped (and other embedded) forms.
            foreach (var network in _allowed)
            {
                if (network.BaseAddress.AddressFamily == AddressFamily.InterNetwork && network.Contains(v4))
                {
                    return null;
                }
            }
        }

        return reason;
    }

    /// <summary>
    /// The creation-time check of a webhook URL: why its host is refused when it is a literal address (in any form
    /// <see cref="Uri"/> parses) or a <c>localhost</c> name; null otherwise (names are checked after resolution).
    /// </summary>
    public string? CheckHost(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (_allowPrivate)
        {
            return null;
        }

        var host = url.IdnHost.TrimEnd('.');
        if (url.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6
            && IPAddress.TryParse(host.Trim('[', ']'), out var address))
        {
            return Check(address) is { } reason ? $"{address} is a {reason} address" : null;
        }

        // Numeric forms Uri may leave as a name on some platforms (2130706433, 0x7f000001, 127.1) parse as IPv4 here.
        if (host.Length > 0 && (char.IsAsciiDigit(host[0]) || host.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            && IPAddress.TryParse(host, out var numeric) && numeric.AddressFamily == AddressFamily.InterNetwork)
        {
            return Check(numeric) is { } reason ? $"{host} ({numeric}) is a {reason} address" : null;
        }

        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
            || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase))
        {
            return Check(IPAddress.Loopback) is null ? null : $"{host} is a loopback name";
        }

        return null;
    }

    /// <summary>The kind of a refused address (<c>loopback</c>, <c>private</c>, ...), or null for a public one.</summary>
    public static string? Classify(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            if (Embedded(address) is { } v4)
            {
                return Classify(v4);
            }

            foreach (var (network, kind) in RefusedV6)
            {
                if (network.Contains(address))
                {
                    return kind;
                }
            }

            return null;
        }

        foreach (var (network, kind) in RefusedV4)
        {
            if (network.Contains(address))
            {
                return kind;
            }
        }

        return null;
    }

    internal static IReadOnlyList<IPNetwork> ParseNetworks(IEnumerable<string>? networks)
    {
        var parsed = new List<IPNetwork>();
        foreach (var text in networks ?? [])
        {
            if (TryParseNetwork(text, out var network))
            {
                parsed.Add(network);
            }
        }

        return parsed;
    }

    /// <summary>A CIDR (<c>10.1.0.0/16</c>) or a single address (<c>10.1.2.3</c>, meaning /32 or /128).</summary>
    internal static bool TryParseNetwork(string? text, out IPNetwork network)
    {
        network = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        if (IPNetwork.TryParse(text.Trim(), out network))
        {
            return true;
        }

        if (IPAddress.TryParse(text.Trim(), out var single))
        {
            network = new IPNetwork(single, single.AddressFamily == AddressFamily.InterNetwork ? 32 : 128);
            return true;
        }

        return false;
    }

    // The IPv4 address an IPv6 address carries: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d, deprecated), NAT64
    // (64:ff9b::a.b.c.d) and 6to4 (2002:aabb:ccdd::); each reaches the IPv4 host through a translator or the stack.
    private static IPAddress? Embedded(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bool zeroPrefix = bytes[..12].IndexOfAnyExcept((byte)0) < 0;
        if (zeroPrefix && (bytes[12] | bytes[13]) != 0)
        {
            return new IPAddress(bytes[12..]);
        }

        if (bytes[0] == 0x00 && bytes[1] == 0x64 && bytes[2] == 0xff && bytes[3] == 0x9b && bytes[4..12].IndexOfAnyExcept((byte)0) < 0)
        {
            return new IPAddress(bytes[12..]);
        }

        if (bytes[0] == 0x20 && bytes[1] == 0x02)
        {
            return new IPAddress(bytes[2..6]);
        }

        return null;
    }
}
