using System.ComponentModel;
using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Keybrake.Client.Tests;

public sealed class UsdConfigurationTests
{
    [Test]
    public void The_type_converter_reads_and_writes_decimal_strings()
    {
        var converter = TypeDescriptor.GetConverter(typeof(Usd));

        Assert.Multiple(() =>
        {
            Assert.That(converter, Is.TypeOf<UsdTypeConverter>());
            Assert.That(converter.CanConvertFrom(typeof(string)), Is.True);
            Assert.That(converter.ConvertFrom(null, CultureInfo.InvariantCulture, "$12.50"), Is.EqualTo(Usd.FromCents(1250)));
            Assert.That(converter.ConvertTo(null, CultureInfo.InvariantCulture, Usd.FromCents(1250), typeof(string)), Is.EqualTo("12.50"));
        });
    }

    [Test]
    public void The_type_converter_throws_for_a_string_that_is_not_an_amount()
    {
        var converter = TypeDescriptor.GetConverter(typeof(Usd));

        Assert.Throws<FormatException>(() => converter.ConvertFrom(null, CultureInfo.InvariantCulture, "ten dollars"));
    }

    [Test]
    public void Configuration_binding_reads_Usd_and_nullable_Usd_properties()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["DailyCap"] = "$12.50",
            ["RunCap"] = "0.0075",
        }).Build();

        var policy = configuration.Get<KeybrakePolicyOptions>()!;

        Assert.Multiple(() =>
        {
            Assert.That(policy.DailyCap, Is.EqualTo(Usd.FromCents(1250)));
            Assert.That(policy.RunCap, Is.EqualTo(Usd.FromMicros(7_500)));
            Assert.That(policy.PerRequestMax, Is.Null);
        });
    }
}
