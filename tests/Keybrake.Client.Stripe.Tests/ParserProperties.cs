using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using CsCheck;
using Keybrake.Client.TestUtilities.Properties;

namespace Keybrake.Client.Stripe.Tests;

/// <summary>
/// Stripe's parsers under generated input: the response reader and the spellings of the fields the guard reads.
/// No exception escapes; what is read is what was written; every other spelling of a read field is caught.
/// </summary>
public sealed partial class ParserProperties
{
    private static readonly Gen<string> s_ids = Gen.String[Gen.Char["abcXYZ019_"], 1, 24];

    [Test]
    public void The_response_reader_never_throws()
    {
        var values = Gen.OneOf("\"\\uD800\"", "\"ch_1\"", "\"usd\"", "1", "-1", "1e400", "12345678901234567890", "1.5", "null", "true", "{}", "[]", "{\"id\":\"\\uDC00\"}", "{\"id\":1,\"x\":{\"id\":\"y\"}}", "[{\"id\":\"z\"}]");
        var keys = Gen.OneOf("id", "object", "amount", "currency", "customer", "charge", "amount_captured", "destination", "on_behalf_of", "\\u0069d", "am\\u006funt", "other");
        var objects = Gen.Select(keys, values, (key, value) => $"\"{key}\":{value}").Array[0, 8].Select(fields => Encoding.UTF8.GetBytes("{" + string.Join(',', fields) + "}"));
        Gen.OneOf(objects, Gen.Byte.Array[0, 64]).Sample(body => _ = StripeObject.Parse(body), iter: PropertyRuns.Iterations);
    }

    [Test]
    public void The_response_reader_reads_the_fields_it_was_given_however_they_are_escaped()
    {
        Gen.Select(s_ids, Gen.Long[0, long.MaxValue], Gen.OneOf("usd", "eur", "jpy", "xyz"), s_ids, Gen.Bool, Gen.Bool).Sample((id, amount, currency, customer, expanded, escaped) =>
        {
            var customerJson = expanded ? $"{{\"id\":\"{customer}\",\"object\":\"customer\",\"metadata\":{{\"id\":\"not_this\"}}}}" : $"\"{customer}\"";
            var amountName = escaped ? "\\u0061mount" : "amount";
            var json = $"{{\"id\":\"{id}\",\"object\":\"charge\",\"{amountName}\":{amount.ToString(CultureInfo.InvariantCulture)},\"refunds\":{{\"data\":[{{\"id\":\"re_1\",\"amount\":1}}]}},\"currency\":\"{currency}\",\"customer\":{customerJson}}}";

            var read = StripeObject.Parse(Encoding.UTF8.GetBytes(json));

            Assert.That(read, Is.Not.Null, json);
            Assert.That((read!.Id, read.GetAmount("amount"), read.Currency, read.Customer), Is.EqualTo((id, (long?)amount, currency, customer)), json);
        }, iter: PropertyRuns.Iterations);
    }

    [Test]
    public void Every_spelling_of_a_read_field_in_another_case_or_array_form_is_recognised()
    {
        var suffixes = Gen.OneOf("", "[]", "[0]", "[12]", "[][]", " ");
        Gen.Select(Gen.OneOf(StripeFieldNames.Read), Gen.Bool.Array[40], suffixes).Sample((field, upper, suffix) =>
        {
            var spelt = new string(field.Select((c, i) => upper[i % upper.Length] ? char.ToUpperInvariant(c) : c).ToArray()) + suffix;

            Assert.That(StripeFieldNames.ReadFieldOf(spelt, flag: null), Is.EqualTo(field), spelt);
        }, iter: PropertyRuns.Iterations);
    }

    [Test]
    public void A_name_is_a_read_field_exactly_when_it_spells_one_up_to_case_and_array_suffixes()
    {
        Gen.OneOf(Gen.String[Gen.Char["acdefmnortuy_[]0 "], 1, 24], Gen.OneOf(StripeFieldNames.Read).Select(f => f + "[x]")).Sample(name =>
        {
            var stem = ArraySuffixes().Replace(name, string.Empty).Trim();
            var expected = StripeFieldNames.Read.FirstOrDefault(field => string.Equals(field, stem, StringComparison.OrdinalIgnoreCase));

            Assert.That(StripeFieldNames.ReadFieldOf(name, flag: null), Is.EqualTo(expected), name);
        }, iter: PropertyRuns.Iterations);
    }

    [TestCase("{\"id\":\"\\uD800\"}")]
    [TestCase("{\"id\":\"ch_1\",\"customer\":{\"id\":\"\\uDC00\"}}")]
    public void A_lone_surrogate_escape_is_an_unreadable_response_never_an_exception(string json)
    {
        // Found by The_response_reader_never_throws: GetString threw InvalidOperationException.
        Assert.That(StripeObject.Parse(Encoding.UTF8.GetBytes(json)), Is.Null);
    }

    [GeneratedRegex(@"(\[\s*[0-9]*\s*\])+$", RegexOptions.CultureInvariant)]
    private static partial Regex ArraySuffixes();
}
