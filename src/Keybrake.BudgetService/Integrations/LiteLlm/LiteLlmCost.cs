using System.Globalization;
using System.Text.Json;
using Keybrake.BudgetService.Store;

namespace Keybrake.BudgetService.Integrations.LiteLlm;

/// <summary>
/// LiteLLM's <c>response_cost</c> (US dollars, a JSON number such as <c>0.00022500000000000002</c> or <c>2.5e-06</c>) as
/// micro-USD. The number is read as the decimal its text spells, never through a binary double, then rounded half away
/// from zero to a whole micro-dollar: 0.0000005 is 1, 0.00000049 is 0.
/// </summary>
internal static class LiteLlmCost
{
    /// <summary>The cost in micro-USD, or the reason the value is refused.</summary>
    public static (long MicroUsd, string? Problem) ToMicroUsd(JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Number)
        {
            return (0, $"must be a number of US dollars, not {LiteLlmJson.KindName(value.ValueKind)}");
        }

        if (!decimal.TryParse(value.GetRawText(), NumberStyles.Float, CultureInfo.InvariantCulture, out var dollars))
        {
            return (0, "is out of range");
        }

        if (dollars < 0)
        {
            return (0, "must not be negative");
        }

        // Compared in dollars first, so that the multiplication below cannot overflow a decimal.
        var micros = dollars <= BookLimits.MaxAmountMicroUsd / 1_000_000m ? decimal.Round(dollars * 1_000_000m, 0, MidpointRounding.AwayFromZero) : decimal.MaxValue;
        if (micros > BookLimits.MaxAmountMicroUsd)
        {
            return (0, string.Create(CultureInfo.InvariantCulture, $"is above the largest amount the books take ({Usd.FromMicros(BookLimits.MaxAmountMicroUsd)})"));
        }

        return ((long)micros, null);
    }
}
