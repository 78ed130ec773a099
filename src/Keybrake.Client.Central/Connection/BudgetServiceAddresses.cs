using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Net.Client.Balancer;
using Grpc.Net.Client.Configuration;

namespace Keybrake.Client.Central;

/// <summary>
/// How the gRPC channel finds the service: one <c>http(s)://</c> address as before, or several replicas (a list
/// through grpc's static resolver, or every record of a <c>dns:///</c> name through its DNS resolver) spread by
/// <see cref="FailoverBalancer"/>, which skips a replica that is not connected or has just failed a call.
/// </summary>
internal sealed class BudgetServiceAddresses
{
    public const string DnsScheme = "dns";

    /// <summary>The channel's target when the replicas come from <see cref="KeybrakeBudgetServiceOptions.Addresses"/>.</summary>
    private static readonly Uri s_staticTarget = new("static:///keybrake-budget-service");

    /// <summary>
    /// How often a <c>dns:///</c> name is looked up again, so that a replica added to (or removed from) the name is
    /// used without a restart. grpc also looks it up again when a connection fails.
    /// </summary>
    private static readonly TimeSpan s_dnsRefresh = TimeSpan.FromSeconds(30);

    private readonly ResolverFactory? _resolver;
    private readonly bool _secure;

    public BudgetServiceAddresses(KeybrakeBudgetServiceOptions options)
    {
        if (options.Addresses.Count > 0)
        {
            var replicas = options.Addresses.Select(entry => new BalancerAddress(entry.Host, entry.Port)).ToList();
            Target = s_staticTarget;
            _resolver = new StaticResolverFactory(_ => replicas);
            _secure = options.Addresses[0].Scheme == Uri.UriSchemeHttps;
        }
        else if (options.Address is { IsAbsoluteUri: true } address && string.Equals(address.Scheme, DnsScheme, StringComparison.OrdinalIgnoreCase))
        {
            Target = address;
            _resolver = new DnsResolverFactory(s_dnsRefresh);

            // Replicas on several machines are off loopback, where the service speaks TLS.
            _secure = true;
        }
        else
        {
            // One http(s) address: the channel as it always was (grpc's own static resolver for that one address).
            Target = options.Address;
        }
    }

    /// <summary>What the client factory dials; <see langword="null"/> outside central mode.</summary>
    public Uri? Target { get; }

    /// <summary>Whether the channel balances over several replicas (a list or a DNS name).</summary>
    public bool IsReplicated => _resolver is not null;

    /// <summary>The host of a <c>dns:///host:port</c> address, or <see langword="null"/> when it names none.</summary>
    public static string? DnsHost(Uri address)
    {
        var path = address.AbsolutePath.TrimStart('/');
        return path.Length > 0 && Uri.TryCreate("dns-host://" + path, UriKind.Absolute, out var parsed) && parsed.Host.Length > 0 ? parsed.Host : null;
    }

    /// <summary>
    /// Sets the channel up for several replicas: the resolver and the balancer come from a provider of their own
    /// (registering them in the application's container would change every other gRPC client it has), and TLS is
    /// decided by the scheme of the entries, since the channel's target no longer says.
    /// </summary>
    public void Configure(GrpcChannelOptions channel, ReplicaHealth health)
    {
        if (_resolver is null)
        {
            return;
        }

        channel.ServiceProvider = new BalancerServices(channel.ServiceProvider, _resolver, new FailoverBalancerFactory(health));
        channel.Credentials = _secure ? ChannelCredentials.SecureSsl : ChannelCredentials.Insecure;
        channel.ServiceConfig = new ServiceConfig { LoadBalancingConfigs = { new LoadBalancingConfig(FailoverBalancerFactory.PolicyName) } };
    }

    /// <summary>The resolver and balancer the channel asks for; anything else from the application's container.</summary>
    private sealed class BalancerServices(IServiceProvider? inner, ResolverFactory resolver, LoadBalancerFactory balancer) : IServiceProvider
    {
        public object? GetService(Type serviceType) =>
            serviceType == typeof(IEnumerable<ResolverFactory>) ? new[] { resolver }
            : serviceType == typeof(IEnumerable<LoadBalancerFactory>) ? new[] { balancer }
            : inner?.GetService(serviceType);
    }
}
