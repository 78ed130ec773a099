using System.Globalization;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.OperatorConsole.Shared;

/// <summary>How the console shows amounts (integer micro-USD) and times.</summary>
internal static class Money
{
    public static string Show(long micros) => Usd.FromMicros(micros).ToString();

    public static string Show(long? micros, string none = "no limit") => micros is { } value ? Show(value) : none;

    public static string Time(long unixMicros) =>
        UnixMicros.ToInstant(unixMicros).ToString("yyyy-MM-dd HH:mm:ss.fff 'UTC'", CultureInfo.InvariantCulture);

    /// <summary>A share of a whole, as a percentage between 0 and 100 (a bar never draws past its end).</summary>
    public static double Percent(long part, long whole) => whole <= 0 ? (part > 0 ? 100 : 0) : Math.Clamp(part * 100.0 / whole, 0, 100);

    public static string Number(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);
}
