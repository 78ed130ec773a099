using Microsoft.Extensions.Options;

namespace Keybrake.Client.Central;

/// <summary>
/// Checks at start-up that the service's address, or its list of replicas, can be dialled as written: one error
/// line per problem, naming the setting, rather than a channel that fails its first call.
/// </summary>
internal sealed class BudgetServiceAddressValidator : IValidateOptions<KeybrakeBudgetServiceOptions>
{
    private const string Prefix = "Keybrake:BudgetService";

    public ValidateOptionsResult Validate(string? name, KeybrakeBudgetServiceOptions options)
    {
        var service = options;
        var errors = new List<string>();
        if (service.Address is not null && service.Addresses.Count > 0)
        {
            errors.Add($"{Prefix}: set Address or Addresses, not both");
        }

        if (service.Address is { } address)
        {
            CheckAddress(address, errors);
        }

        var schemes = new HashSet<string>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < service.Addresses.Count; i++)
        {
            var entry = service.Addresses[i];
            var path = $"{Prefix}:Addresses:{i}";
            if (entry is null || entry.OriginalString.Trim().Length == 0)
            {
                errors.Add($"{path} is empty");
            }
            else if (!IsHttpAddress(entry))
            {
                errors.Add($"{path}: '{entry.OriginalString}' is not an http:// or https:// address with a host (such as https://budget-a.internal:7411)");
            }
            else if (HasPath(entry))
            {
                errors.Add($"{path}: '{entry.OriginalString}' has a path or query; give the scheme, host and port only");
            }
            else
            {
                schemes.Add(entry.Scheme);
                if (!seen.Add($"{entry.Host}:{entry.Port}"))
                {
                    errors.Add($"{path}: '{entry.OriginalString}' is listed twice");
                }
            }
        }

        if (schemes.Count > 1)
        {
            errors.Add($"{Prefix}:Addresses mixes http:// and https:// entries; every replica is reached the same way");
        }

        if (service.TlsHostName is { } host)
        {
            if (Uri.CheckHostName(host) is not (UriHostNameType.Dns or UriHostNameType.IPv4 or UriHostNameType.IPv6))
            {
                errors.Add($"{Prefix}:TlsHostName: '{host}' is not a host name");
            }
            else if (service.IsCentral && !UsesTls(service))
            {
                errors.Add($"{Prefix}:TlsHostName is set but the service is reached without TLS (http://); use https:// addresses or remove it");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void CheckAddress(Uri address, List<string> errors)
    {
        if (address.IsAbsoluteUri && string.Equals(address.Scheme, BudgetServiceAddresses.DnsScheme, StringComparison.OrdinalIgnoreCase))
        {
            if (BudgetServiceAddresses.DnsHost(address) is null)
            {
                errors.Add($"{Prefix}:Address: '{address.OriginalString}' names no host; write dns:///budget.internal:7411");
            }
        }
        else if (!IsHttpAddress(address))
        {
            errors.Add($"{Prefix}:Address: '{address.OriginalString}' is not an http://, https:// or dns:/// address with a host");
        }
    }

    private static bool UsesTls(KeybrakeBudgetServiceOptions service) =>
        service.Address is { IsAbsoluteUri: true } address
            ? !string.Equals(address.Scheme, Uri.UriSchemeHttp, StringComparison.OrdinalIgnoreCase)
            : service.Addresses.All(entry => entry is { IsAbsoluteUri: true } && entry.Scheme == Uri.UriSchemeHttps);

    private static bool IsHttpAddress(Uri address) =>
        address.IsAbsoluteUri && (address.Scheme == Uri.UriSchemeHttp || address.Scheme == Uri.UriSchemeHttps) && address.Host.Length > 0;

    private static bool HasPath(Uri address) => address.AbsolutePath != "/" || address.Query.Length > 0;
}
