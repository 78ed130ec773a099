namespace Keybrake.Client.Tests;

public sealed class UsdParsingTests
{
    [TestCase("100", 100_000_000L)]
    [TestCase("12.50", 12_500_000L)]
    [TestCase("$0.0075", 7_500L)]
    [TestCase("0", 0L)]
    [TestCase(" 7.1 ", 7_100_000L)]
    [TestCase("0.000001", 1L)]
    [TestCase("1000000000000", 1_000_000_000_000_000_000L)]
    public void Parse_and_TryParse_read_decimal_dollar_strings_exactly(string text, long micros)
    {
        var parsed = Usd.Parse(text);
        var ok = Usd.TryParse(text, out var tried);

        Assert.Multiple(() =>
        {
            Assert.That(parsed.Micros, Is.EqualTo(micros));
            Assert.That(ok, Is.True);
            Assert.That(tried, Is.EqualTo(parsed));
        });
    }

    [TestCase("-1")]
    [TestCase("1.2345678")]
    [TestCase("abc")]
    [TestCase("")]
    [TestCase("   ")]
    [TestCase("$")]
    [TestCase("1.")]
    [TestCase(".5")]
    [TestCase("+1")]
    [TestCase("1e3")]
    [TestCase("1,000")]
    [TestCase("12.5.0")]
    [TestCase("1000000000000.000001")]
    [TestCase("1000000000001")]
    [TestCase("99999999999999")]
    [TestCase("99999999999999999999999999")]
    public void TryParse_rejects_anything_but_a_non_negative_amount_with_at_most_six_decimals(string text)
    {
        var ok = Usd.TryParse(text, out var value);

        Assert.Multiple(() =>
        {
            Assert.That(ok, Is.False);
            Assert.That(value, Is.EqualTo(Usd.Zero));
        });
    }

    [Test]
    public void TryParse_rejects_null()
    {
        Assert.That(Usd.TryParse(null, out _), Is.False);
    }

    [Test]
    public void Parse_throws_a_FormatException_that_quotes_the_text()
    {
        var error = Assert.Throws<FormatException>(() => Usd.Parse("12.3456789"));

        Assert.That(error!.Message, Does.Contain("'12.3456789' is not a USD amount"));
    }

    [Test]
    public void A_thirteen_digit_amount_too_large_for_micro_dollars_is_rejected_rather_than_wrapping_negative()
    {
        var ok = Usd.TryParse("9999999999999", out var value);

        Assert.Multiple(() =>
        {
            Assert.That(ok, Is.False, $"parsed as {value.Micros} micro-dollars");
            Assert.That(value.Micros, Is.GreaterThanOrEqualTo(0));
        });
    }
}
