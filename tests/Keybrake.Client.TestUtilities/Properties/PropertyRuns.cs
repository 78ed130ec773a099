using System.Globalization;

namespace Keybrake.Client.TestUtilities.Properties;

/// <summary>
/// How many generated cases each property test runs. CI runs the default, a few seconds per property; a long
/// run sets <c>KEYBRAKE_PROPERTY_ITERATIONS</c> (docs/property-tests.md has the command).
/// </summary>
public static class PropertyRuns
{
    public const string Variable = "KEYBRAKE_PROPERTY_ITERATIONS";

    private const long Default = 20_000;

    public static long Iterations { get; } =
        long.TryParse(Environment.GetEnvironmentVariable(Variable), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : Default;

    /// <summary>For a property whose single case is costly (a whole request through the guard), a tenth of the count.</summary>
    public static long Fewer => Math.Max(100, Iterations / 10);
}
