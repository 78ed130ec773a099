namespace Keybrake.Cli.Policies;

/// <summary>
/// The vendor, allowlist and limit names the CLI accepts, from the table the budget service checks policies
/// against (<see cref="KnownVendor"/>). An allowlist or limit may be written in the service's spelling
/// (<c>maxSegments</c>) or in snake case (<c>max_segments</c>); the CLI sends the service's.
/// </summary>
internal static class VendorNames
{
    public static string[] Vendors { get; } = [.. KnownVendor.All.Select(v => v.Name)];

    public static string VendorList => string.Join(", ", Vendors);

    /// <summary>The service's spelling of an allowlist name, or an error that lists the known ones.</summary>
    public static bool TryScope(string name, out string canonical, out string error) =>
        TryFind(name, v => v.ScopeNames, "an allowlist", out canonical, out error);

    /// <summary>The service's spelling of a limit name, or an error that lists the known ones.</summary>
    public static bool TryLimit(string name, out string canonical, out string error) =>
        TryFind(name, v => v.LimitNames, "a limit", out canonical, out error);

    private static bool TryFind(string name, Func<KnownVendor, IReadOnlyList<string>> names, string what, out string canonical, out string error)
    {
        var wanted = Simplify(name);
        foreach (var vendor in KnownVendor.All)
        {
            foreach (var known in names(vendor))
            {
                if (string.Equals(Simplify(known), wanted, StringComparison.Ordinal))
                {
                    canonical = known;
                    error = string.Empty;
                    return true;
                }
            }
        }

        var lists = KnownVendor.All.Where(v => names(v).Count > 0).Select(v => $"{v.Name}: {string.Join(", ", names(v))}");
        canonical = string.Empty;
        error = $"'{name}' is not {what} any vendor knows ({string.Join("; ", lists)})";
        return false;
    }

    private static string Simplify(string name) =>
        string.Concat(name.Where(c => c is not ('_' or '-'))).ToLowerInvariant();
}
