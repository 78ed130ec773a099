using System.Text.Json;
using Keybrake.BudgetService.Integrations.LiteLlm;

namespace Keybrake.BudgetService.Tests.Integrations;

/// <summary>response_cost in US dollars as exact micro-USD: read as the decimal its text spells, rounded half away from zero.</summary>
public sealed class LiteLlmCostTests
{
    [TestCase("0.00022500000000000002", 225L)]
    [TestCase("0.001047", 1_047L)]
    [TestCase("2.5e-06", 3L)]
    [TestCase("1e-05", 10L)]
    [TestCase("0.0000005", 1L)]
    [TestCase("0.00000049", 0L)]
    [TestCase("0.0000015", 2L)]
    [TestCase("0", 0L)]
    [TestCase("0.0", 0L)]
    [TestCase("40", 40_000_000L)]
    [TestCase("1000000000", 1_000_000_000_000_000L)]
    public void A_cost_is_exact_micro_usd(string json, long expected)
    {
        using var document = JsonDocument.Parse(json);

        Assert.That(LiteLlmCost.ToMicroUsd(document.RootElement), Is.EqualTo((expected, (string?)null)));
    }

    [TestCase("-0.001", "must not be negative")]
    [TestCase("1000000000.000001", "is above the largest amount the books take")]
    [TestCase("1e300", "is out of range")]
    [TestCase("\"0.001\"", "must be a number of US dollars, not a string")]
    [TestCase("true", "must be a number of US dollars, not a boolean")]
    public void A_cost_the_books_cannot_take_is_refused(string json, string expected)
    {
        using var document = JsonDocument.Parse(json);

        Assert.That(LiteLlmCost.ToMicroUsd(document.RootElement).Problem, Does.StartWith(expected));
    }
}
