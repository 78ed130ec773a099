namespace Keybrake.Client;

/// <summary>
/// Where a key's secret may go: <c>https</c> to one of its vendor's own hosts on the default port, or exactly the
/// stand-in its <see cref="KeybrakeKeyOptions.VendorEndpoint"/> names. Anything else is <c>host_not_allowed</c>.
/// </summary>
internal static class VendorEndpoints
{
    /// <summary>Reads a <see cref="KeybrakeKeyOptions.VendorEndpoint"/>; the problem completes "VendorEndpoint ...".</summary>
    public static bool TryParse(string value, out Uri? endpoint, out string problem)
    {
        endpoint = null;
        problem = string.Empty;
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            problem = "must be an absolute http or https address, such as http://127.0.0.1:5080";
            return false;
        }

        if (uri.UserInfo.Length > 0 || uri.AbsolutePath != "/" || uri.Query.Length > 0 || uri.Fragment.Length > 0)
        {
            problem = "names a scheme, host and port only: no user, path, query or fragment";
            return false;
        }

        endpoint = uri;
        return true;
    }

    /// <summary>The stand-in of a key whose options were validated, or <see langword="null"/>.</summary>
    public static Uri? Parse(string keyId, string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        return TryParse(value, out var endpoint, out var problem)
            ? endpoint
            : throw new ArgumentException($"Keybrake:Keys:{keyId}:VendorEndpoint {problem}");
    }

    /// <summary>Whether the key's secret may go to <paramref name="uri"/>; the reason when not.</summary>
    public static GuardDenial? Check(VendorProfile vendor, ResolvedKey key, Uri? uri)
    {
        if (uri is not { IsAbsoluteUri: true })
        {
            return new GuardDenial(ReasonCodes.HostNotAllowed, "the request has no absolute address, so where the secret would go is unknown");
        }

        if (key.VendorEndpoint is { } standIn)
        {
            if (string.Equals(uri.Scheme, standIn.Scheme, StringComparison.Ordinal)
                && string.Equals(uri.Host, standIn.Host, StringComparison.OrdinalIgnoreCase)
                && uri.Port == standIn.Port)
            {
                return null;
            }

            return new GuardDenial(
                ReasonCodes.HostNotAllowed,
                $"key '{key.Id}' sends its secret only to its VendorEndpoint {Describe(standIn)}, not to {Describe(uri)}");
        }

        if (string.Equals(uri.Scheme, Uri.UriSchemeHttps, StringComparison.Ordinal) && uri.IsDefaultPort && vendor.IsSecretHost(uri.Host))
        {
            return null;
        }

        return new GuardDenial(
            ReasonCodes.HostNotAllowed,
            $"the {vendor.Vendor} secret of key '{key.Id}' goes only over https to {string.Join(", ", vendor.SecretHosts)}, not to {Describe(uri)}");
    }

    // Scheme, host and port only: a user name, path or query could carry anything, a secret included.
    private static string Describe(Uri uri) => Truncate($"{uri.Scheme}://{uri.Authority}");

    private static string Truncate(string value) => value.Length <= 100 ? value : value[..100] + "...";
}
