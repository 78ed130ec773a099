namespace Keybrake.Client.Tests;

public sealed class UsdFormattingTests
{
    [TestCase(12_500_000L, "$12.50")]
    [TestCase(7_500L, "$0.0075")]
    [TestCase(100_000_000L, "$100.00")]
    [TestCase(0L, "$0.00")]
    [TestCase(1L, "$0.000001")]
    [TestCase(1_230_000L, "$1.23")]
    [TestCase(-1_500_000L, "-$1.50")]
    [TestCase(1_000_000_000_000_000_000L, "$1000000000000.00")]
    public void ToString_writes_dollars_with_at_least_two_decimals_and_no_trailing_zeros_beyond(long micros, string expected)
    {
        Assert.That(Usd.FromMicros(micros).ToString(), Is.EqualTo(expected));
    }

    [Test]
    public void FromCents_and_FromDollars_convert_to_micro_dollars()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Usd.FromCents(1250).Micros, Is.EqualTo(12_500_000));
            Assert.That(Usd.FromCents(1), Is.EqualTo(Usd.Parse("0.01")));
            Assert.That(Usd.FromDollars(100), Is.EqualTo(Usd.Parse("100")));
            Assert.That(Usd.FromDollars(1_000_000_000_000), Is.EqualTo(Usd.MaxValue));
        });
    }

    [Test]
    public void FromCents_and_FromDollars_throw_on_overflow_instead_of_wrapping()
    {
        Assert.Multiple(() =>
        {
            Assert.Throws<OverflowException>(() => Usd.FromCents(long.MaxValue));
            Assert.Throws<OverflowException>(() => Usd.FromDollars(long.MaxValue / 1000));
        });
    }

    [Test]
    public void Arithmetic_and_comparison_work_on_micro_dollars()
    {
        var a = Usd.Parse("0.10");
        var b = Usd.Parse("0.20");

        Assert.Multiple(() =>
        {
            Assert.That(a + b, Is.EqualTo(Usd.Parse("0.30")), "no floating-point drift");
            Assert.That(b - a, Is.EqualTo(a));
            Assert.That(a < b && b > a, Is.True);
            Assert.That(a <= Usd.Parse("0.1") && b >= Usd.Parse("0.2"), Is.True);
            Assert.That(b < a || a > b, Is.False);
            Assert.That(a.CompareTo(b), Is.Negative);
        });
    }

    [Test]
    public void Formatting_then_parsing_gives_back_the_same_amount()
    {
        foreach (var micros in new[] { 0L, 1L, 10_000L, 7_500L, 12_500_000L, 999_999_999_999_999_999L })
        {
            var amount = Usd.FromMicros(micros);
            Assert.That(Usd.Parse(amount.ToString()), Is.EqualTo(amount), amount.ToString());
        }
    }
}
