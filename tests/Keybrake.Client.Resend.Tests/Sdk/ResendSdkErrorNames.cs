namespace Keybrake.Client.Resend.Tests.Sdk;

/// <summary>The error names the Resend SDK parses, from Fixtures/resend-dotnet-error-names.txt.</summary>
internal static class ResendSdkErrorNames
{
    private static readonly Lazy<Dictionary<string, bool>> s_names = new(Load);

    public static IReadOnlyCollection<string> All => s_names.Value.Keys;

    public static bool IsKnown(string name) => s_names.Value.ContainsKey(name);

    public static bool IsTransient(string name) => s_names.Value.TryGetValue(name, out var transient) && transient;

    private static Dictionary<string, bool> Load() =>
        File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Fixtures", "resend-dotnet-error-names.txt"))
            .Where(line => line.Length > 0 && !line.StartsWith('#'))
            .Select(line => line.Split(' '))
            .ToDictionary(parts => parts[0], parts => parts is [_, "transient"], StringComparer.Ordinal);
}
