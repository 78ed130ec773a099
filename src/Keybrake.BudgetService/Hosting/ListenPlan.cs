using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Keybrake.BudgetService.Hosting;

/// <summary>One socket the service listens on: what it serves, and with which protocols.</summary>
internal sealed record ListenEndpoint(IPEndPoint EndPoint, bool Tls, HttpProtocols Protocols, string Serves)
{
    public string Url => string.Create(CultureInfo.InvariantCulture, $"{(Tls ? "https" : "http")}://{EndPoint}");

    /// <summary>Cleartext on an address other hosts can reach.</summary>
    public bool IsInsecureNetwork => !Tls && !IPAddress.IsLoopback(EndPoint.Address);
}

/// <summary>
/// Where the service listens, from <c>--urls</c> (or <c>ASPNETCORE_URLS</c>) or from <c>BudgetService:ListenAddress</c>,
/// <c>Port</c> and <c>RestPort</c>. gRPC needs HTTP/2 and curl speaks HTTP/1.1. With TLS one port offers both (the
/// client picks by ALPN). Without TLS a port speaks one of them only, so gRPC and REST get a port each:
/// <list type="bullet">
/// <item>no <c>--urls</c>: gRPC on <c>Port</c>, REST on <c>RestPort</c> (-1: none), both on <c>ListenAddress</c>; with TLS both ports serve both;</item>
/// <item><c>--urls A</c>: gRPC on A; with https REST there too, with http REST on <c>RestPort</c> at A's address;</item>
/// <item><c>--urls "A;B"</c>: gRPC on A (and REST too when https), REST on B.</item>
/// </list>
/// </summary>
internal static class ListenPlan
{
    private const string Section = BudgetServiceOptions.SectionName;

    public static IReadOnlyList<ListenEndpoint> Create(string? urls, BudgetServiceOptions options)
    {
        var tls = options.Tls.Enabled;
        if (string.IsNullOrWhiteSpace(urls))
        {
            var address = Address(options.ListenAddress, $"{Section}:ListenAddress");
            var endpoints = new List<ListenEndpoint> { Grpc(new IPEndPoint(address, options.Port), tls) };
            if (options.RestPort >= 0)
            {
                endpoints.Add(Rest(new IPEndPoint(address, options.RestPort), tls));
            }

            return endpoints;
        }

        var parsed = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(url => Url(url, tls)).ToList();
        if (parsed.Count > 2)
        {
            throw new ServiceStartException($"--urls '{urls}': give one address for gRPC and at most one more for REST");
        }

        var (grpcEndPoint, grpcTls) = parsed[0];
        var plan = new List<ListenEndpoint> { Grpc(grpcEndPoint, grpcTls) };
        if (parsed.Count == 2)
        {
            plan.Add(Rest(parsed[1].EndPoint, parsed[1].Tls));
        }
        else if (!grpcTls && options.RestPort >= 0)
        {
            plan.Add(Rest(new IPEndPoint(grpcEndPoint.Address, options.RestPort), Tls: false));
        }

        return plan;
    }

    /// <summary>The <c>http://</c> URLs of Kestrel's own endpoints (<c>Kestrel:Endpoints</c>) that other hosts can reach.</summary>
    public static IEnumerable<string> InsecureKestrelEndpoints(IConfiguration configuration) =>
        configuration.GetSection("Kestrel:Endpoints").GetChildren()
            .Select(endpoint => endpoint["Url"])
            .OfType<string>()
            .Where(url => url.StartsWith("http://", StringComparison.OrdinalIgnoreCase) && !IsLoopbackHost(url));

    private static ListenEndpoint Grpc(IPEndPoint endPoint, bool tls) =>
        new(endPoint, tls, tls ? HttpProtocols.Http1AndHttp2 : HttpProtocols.Http2, tls ? "gRPC and REST" : "gRPC (HTTP/2 only)");

    private static ListenEndpoint Rest(IPEndPoint endPoint, bool Tls) =>
        new(endPoint, Tls, Tls ? HttpProtocols.Http1AndHttp2 : HttpProtocols.Http1, Tls ? "gRPC and REST" : "REST (HTTP/1.1 only)");

    private static (IPEndPoint EndPoint, bool Tls) Url(string url, bool certificate)
    {
        // Kestrel's wildcards are not hosts a Uri accepts.
        var normal = url.Replace("://*:", "://0.0.0.0:", StringComparison.Ordinal).Replace("://+:", "://0.0.0.0:", StringComparison.Ordinal);
        if (!Uri.TryCreate(normal, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || uri.AbsolutePath != "/")
        {
            throw new ServiceStartException($"--urls: '{url}' is not an address to listen on: write http://ip:port or https://ip:port");
        }

        var tls = uri.Scheme == Uri.UriSchemeHttps;
        if (tls && !certificate)
        {
            throw new ServiceStartException($"--urls: '{url}' asks for TLS, but no certificate is configured (set {Section}:Tls:CertificatePath)");
        }

        return (new IPEndPoint(Address(uri.Host, $"--urls '{url}'"), uri.Port), tls);
    }

    private static IPAddress Address(string host, string setting) => host.ToLowerInvariant() switch
    {
        "localhost" => IPAddress.Loopback,
        "*" or "+" => IPAddress.Any,
        _ when IPAddress.TryParse(host, out var address) => address,
        _ => throw new ServiceStartException($"{setting}: '{host}' is not an IP address (use 127.0.0.1 for this machine only, 0.0.0.0 for every interface)"),
    };

    private static bool IsLoopbackHost(string url)
    {
        var host = Uri.TryCreate(url.Replace("://*:", "://0.0.0.0:", StringComparison.Ordinal), UriKind.Absolute, out var uri) ? uri.Host : string.Empty;
        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address));
    }
}
