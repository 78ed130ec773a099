using System.Text;
using System.Text.RegularExpressions;
using CsCheck;
using Keybrake.Client.TestUtilities.Properties;

namespace Keybrake.Client.Twilio.Tests;

/// <summary>
/// Twilio's parsers under generated input: segment counting, E.164 numbers and prefixes, and the response
/// reader. No exception escapes, and each answer agrees with a plain statement of the rule.
/// </summary>
public sealed partial class ParserProperties
{
    private const string Gsm7Basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    private const string Gsm7Extension = "\f^{}\\[~]|€";

    /// <summary>Bodies mixing the GSM basic alphabet, its extension table, other BMP characters, emoji and lone surrogates.</summary>
    private static readonly Gen<string> s_bodies = Gen.Frequency(
        (3, Gen.String[Gen.Char[Gsm7Basic], 0, 400]),
        (2, Gen.OneOf(Gen.Char[Gsm7Basic], Gen.Char[Gsm7Extension]).Array[0, 400].Select(c => new string(c))),
        (2, Gen.OneOf(Gen.Const("a"), Gen.Const("€"), Gen.Const("ж"), Gen.Const("\U0001F44D"), Gen.Const("\uD83D"), Gen.Const("{")).Array[0, 200].Select(string.Concat)),
        (1, Gen.String[0, 300]));

    private static readonly Gen<string> s_numbers = Gen.Frequency(
        (3, Gen.Select(Gen.Char['1', '9'], Gen.String[Gen.Char['0', '9'], 0, 16], (first, rest) => "+" + first + rest)),
        (1, Gen.String[Gen.Char["+0123456789 -()a"], 0, 18]));

    [Test]
    public void Segment_counts_follow_the_rule_and_never_throw()
    {
        s_bodies.Sample(body =>
        {
            var count = SmsSegments.Count(body);
            var gsm = body.All(c => Gsm7Basic.Contains(c) || Gsm7Extension.Contains(c));
            var units = gsm ? body.Sum(c => Gsm7Extension.Contains(c) ? 2 : 1) : body.Length;
            var (single, part) = gsm ? (SmsSegments.Gsm7Single, SmsSegments.Gsm7Part) : (SmsSegments.Ucs2Single, SmsSegments.Ucs2Part);

            {
                Assert.That(count.Encoding, Is.EqualTo(gsm ? SmsEncoding.Gsm7 : SmsEncoding.Ucs2));
                Assert.That(count.Units, Is.EqualTo(units));
                Assert.That(count.Segments, Is.GreaterThanOrEqualTo(1));
                if (units <= single)
                {
                    Assert.That(count.Segments, Is.EqualTo(1));
                }
                else
                {
                    // Parts hold `part` units, less one where a pair that would straddle two parts moves whole.
                    Assert.That(count.Segments, Is.InRange((units + part - 1) / part, (units + part - 2) / (part - 1)));
                }
            }
        }, iter: PropertyRuns.Iterations);
    }

    [Test]
    public void A_longer_body_never_counts_fewer_segments()
    {
        Gen.Select(s_bodies, Gen.OneOf("a", "€", "ж", "\U0001F44D", "{")).Sample((body, more) =>
        {
            Assert.That(SmsSegments.Count(body + more).Segments, Is.GreaterThanOrEqualTo(SmsSegments.Count(body).Segments));
        }, iter: PropertyRuns.Iterations);
    }

    [Test]
    public void E164_numbers_and_prefixes_follow_the_rule_and_never_throw()
    {
        var rates = SegmentRateTable.Create(null, null);
        Gen.Select(s_numbers, s_numbers.Array[0, 4]).Sample((number, prefixes) =>
        {
            var valid = E164.IsE164(number);
            var allowed = new HashSet<string>(prefixes.Where(p => p.Length > 0), StringComparer.Ordinal);

            {
                Assert.That(valid, Is.EqualTo(E164Shape().IsMatch(number)), number);
                Assert.That(E164.MatchesAnyPrefix(number, allowed), Is.EqualTo(allowed.Any(p => number.StartsWith(p, StringComparison.Ordinal))));
                if (valid)
                {
                    Assert.That(E164.MatchesAnyPrefix(number, new HashSet<string> { number[..Math.Max(2, number.Length / 2)] }), Is.True, "a number starts with its own prefix");
                    _ = rates.CountryOf(number);
                }
            }
        }, iter: PropertyRuns.Iterations);
    }

    [Test]
    public void The_response_reader_never_throws_and_reads_every_sid_it_is_given()
    {
        var resources = Gen.Select(Gen.String[Gen.Char["SMabc0123456789"], 1, 34], Gen.OneOf<string?>(null, "-0.00750", "-1", "abc"), Gen.OneOf<string?>(null, "delivered", "failed"))
            .Array[0, 5];
        Gen.Select(resources, Gen.Bool).Sample((items, asList) =>
        {
            var json = asList
                ? "{\"messages\":[" + string.Join(',', items.Select(Json)) + "],\"page\":0}"
                : items.Length == 0 ? "{}" : Json(items[0]);
            var read = new List<TwilioResource>();

            Assert.That(TwilioResource.TryParse(Encoding.UTF8.GetBytes(json), read), Is.True, json);
            Assert.That(read.Select(r => (r.Sid, r.Price, r.Status)), Is.EqualTo(asList ? items : items.Take(1)));
        }, iter: PropertyRuns.Iterations);
    }

    [Test]
    public void The_response_reader_never_throws_on_arbitrary_bytes()
    {
        var bytes = Gen.OneOf(
            Gen.Byte.Array[0, 128],
            Gen.OneOf("{}[]\":,sid price messages \\u00ff\u00e9".Select(c => (byte)c).Concat(new byte[] { 0xC3, 0xFF, 0x80 }).ToArray()).Array[0, 128]);
        var values = Gen.OneOf("\"\\uD800\"", "\"\\uDC00x\"", "\"a\\u00e9\"", "1", "-1e400", "12345678901234567890", "null", "true", "{}", "[]", "{\"sid\":\"\\uD83D\"}", "[{\"sid\":1}]");
        var keys = Gen.OneOf("sid", "price", "price_unit", "status", "messages", "calls", "s\\u0069d", "other");
        var objects = Gen.Select(keys, values, (key, value) => $"\"{key}\":{value}").Array[0, 6].Select(fields => Encoding.UTF8.GetBytes("{" + string.Join(',', fields) + "}"));
        Gen.OneOf(bytes, objects).Sample(body =>
        {
            var read = new List<TwilioResource>();
            _ = TwilioResource.TryParse(body, read);
            foreach (var resource in read)
            {
                _ = TwilioPrice.TryToUsd(resource.Price ?? string.Empty, resource.PriceUnit, out _);
            }
        }, iter: PropertyRuns.Iterations);
    }

    [Test]
    public void A_price_reads_as_its_absolute_value_rounded_up_to_a_micro_dollar()
    {
        Gen.Select(Gen.Long[0, 999_999_999_999], Gen.String[Gen.Char['0', '9'], 0, 12], Gen.Bool).Sample((whole, fraction, negative) =>
        {
            var text = (negative ? "-" : string.Empty) + whole.ToString(System.Globalization.CultureInfo.InvariantCulture) + (fraction.Length > 0 ? "." + fraction : string.Empty);
            var expected = (whole * 1_000_000) + long.Parse(fraction.PadRight(6, '0')[..6], System.Globalization.CultureInfo.InvariantCulture) + (fraction.Length > 6 && fraction[6..].Any(c => c != '0') ? 1 : 0);

            Assert.That(TwilioPrice.TryToUsd(text, "USD", out var usd), Is.True, text);
            Assert.That(usd.Micros, Is.EqualTo(expected), text);
        }, iter: PropertyRuns.Iterations);
    }

    [TestCase("{\"sid\":\"\\uD800\"}")]
    [TestCase("{\"messages\":[{\"sid\":\"SM1\",\"price\":\"\\uDC00\"}]}")]
    public void A_lone_surrogate_escape_is_an_unreadable_response_never_an_exception(string json)
    {
        // Found by The_response_reader_never_throws_on_arbitrary_bytes: GetString threw InvalidOperationException.
        Assert.That(TwilioResource.TryParse(Encoding.UTF8.GetBytes(json), []), Is.False);
    }

    private static string Json((string Sid, string? Price, string? Status) item) =>
        $"{{\"sid\":\"{item.Sid}\",\"price\":{Quote(item.Price)},\"price_unit\":\"USD\",\"status\":{Quote(item.Status)},\"subresource_uris\":{{\"media\":\"/x\"}}}}";

    private static string Quote(string? value) => value is null ? "null" : $"\"{value}\"";

    [GeneratedRegex(@"^\+[1-9][0-9]{0,14}\z", RegexOptions.CultureInvariant)]
    private static partial Regex E164Shape();
}
