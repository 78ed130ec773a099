namespace Keybrake.Client.Tests;

/// <summary>
/// Dollars as an operator types them (the CLI's options) and reads them: <see cref="Usd.TryParse(string?, out Usd, out string)"/>
/// says why it refuses an amount, and what <see cref="Usd.ToString"/> shows parses back to the same amount.
/// </summary>
public sealed class UsdOperatorTextTests
{
    [TestCase("100", 100_000_000L)]
    [TestCase("12.50", 12_500_000L)]
    [TestCase("$0.0075", 7_500L)]
    [TestCase("0.1", 100_000L)]
    [TestCase("0.000001", 1L)]
    [TestCase("0", 0L)]
    [TestCase(" 7.25 ", 7_250_000L)]
    [TestCase("1000000000000", 1_000_000_000_000_000_000L)]
    [TestCase("123456789.123456", 123_456_789_123_456L)]
    public void Dollars_become_exact_micro_usd(string text, long micros)
    {
        Assert.That(Usd.TryParse(text, out var parsed, out var error), Is.True, error);
        Assert.That(parsed.Micros, Is.EqualTo(micros));
        Assert.That(error, Is.Empty);
    }

    [TestCase("-5", "negative")]
    [TestCase("$-5", "negative")]
    [TestCase("-$5", "negative")]
    [TestCase("1.1234567", "more than six digits after the point")]
    [TestCase("0.0000001", "more than six digits after the point")]
    [TestCase("abc", "is not an amount in dollars")]
    [TestCase("1e3", "is not an amount in dollars")]
    [TestCase("1,000", "is not an amount in dollars")]
    [TestCase("1.", "is not an amount in dollars")]
    [TestCase(".5", "is not an amount in dollars")]
    [TestCase("1.2.3", "is not an amount in dollars")]
    [TestCase("+5", "is not an amount in dollars")]
    [TestCase("NaN", "is not an amount in dollars")]
    [TestCase("1000000000000.01", "more than the largest amount")]
    [TestCase("99999999999999999999999", "more than the largest amount")]
    [TestCase("", "is required")]
    [TestCase("$", "is required")]
    [TestCase(null, "is required")]
    public void Bad_amounts_are_refused_with_a_reason(string? text, string reason)
    {
        Assert.That(Usd.TryParse(text, out var parsed, out var error), Is.False);
        Assert.That(error, Does.Contain(reason));
        Assert.That(parsed, Is.EqualTo(Usd.Zero));
        Assert.That(Usd.TryParse(text, out _), Is.False, "the two TryParse overloads agree");
    }

    [Test]
    public void A_huge_bad_amount_is_echoed_as_a_short_prefix_only()
    {
        var text = "9" + new string('x', 100_000);

        Assert.That(Usd.TryParse(text, out _, out var error), Is.False);
        Assert.That(error, Has.Length.LessThan(200));
        Assert.That(error, Does.Contain("is not an amount in dollars"));
    }

    [TestCase(100_000_000L, "$100.00")]
    [TestCase(12_500_000L, "$12.50")]
    [TestCase(7_500L, "$0.0075")]
    [TestCase(1L, "$0.000001")]
    [TestCase(0L, "$0.00")]
    [TestCase(-2_500_000L, "-$2.50")]
    [TestCase(1_234_567_890_000L, "$1234567.89")]
    public void Micro_usd_are_shown_as_dollars_with_cents(long micros, string text) =>
        Assert.That(Usd.FromMicros(micros).ToString(), Is.EqualTo(text));

    [TestCase("0.000001")]
    [TestCase("19.99")]
    [TestCase("250000.5")]
    public void What_is_shown_parses_back_to_the_same_amount(string text)
    {
        Assert.That(Usd.TryParse(text, out var amount, out _), Is.True);
        Assert.That(Usd.TryParse(amount.ToString(), out var again, out _), Is.True);
        Assert.That(again, Is.EqualTo(amount));
    }
}
