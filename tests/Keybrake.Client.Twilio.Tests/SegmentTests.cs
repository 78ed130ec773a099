namespace Keybrake.Client.Twilio.Tests;

/// <summary>Segment counting at the GSM-7 and UCS-2 boundaries, then the same boundaries through the real client.</summary>
public sealed class SegmentTests
{
    private const string Cyrillic = "ж";
    private const string ThumbsUp = "\U0001F44D";

    [TestCase(1, 1)]
    [TestCase(160, 1)]
    [TestCase(161, 2)]
    [TestCase(306, 2)]
    [TestCase(307, 3)]
    [TestCase(1600, 11)]
    public void Gsm7_is_160_septets_alone_and_153_per_part(int length, int segments)
    {
        var count = SmsSegments.Count(new string('a', length));
        Assert.That(count, Is.EqualTo(new SegmentCount(SmsEncoding.Gsm7, segments, length)));
    }

    [TestCase(80, 1, 160)]
    [TestCase(81, 2, 162)]
    public void Extension_characters_take_two_septets(int euros, int segments, int septets)
    {
        var count = SmsSegments.Count(new string('€', euros));
        Assert.That(count, Is.EqualTo(new SegmentCount(SmsEncoding.Gsm7, segments, septets)));
    }

    [Test]
    public void An_escape_pair_is_never_split_across_two_parts()
    {
        // 306 septets would fit two parts of 153, but the '{' pair straddles the boundary and moves whole.
        var count = SmsSegments.Count(new string('a', 152) + "{" + new string('a', 152));
        Assert.That(count, Is.EqualTo(new SegmentCount(SmsEncoding.Gsm7, 3, 306)));
    }

    [Test]
    public void Accented_letters_in_the_gsm_alphabet_stay_gsm7_and_others_switch_to_ucs2()
    {
        Assert.Multiple(() =>
        {
            Assert.That(SmsSegments.Count("Café à Málaga? ¿Sí!").Encoding, Is.EqualTo(SmsEncoding.Ucs2), "á and í are not in the GSM alphabet");
            Assert.That(SmsSegments.Count("Ça coûte 5€ chez Müller").Encoding, Is.EqualTo(SmsEncoding.Ucs2), "û is not in the GSM alphabet");
            Assert.That(SmsSegments.Count("Ça fait 5€ chez Müller, à Zürich [ok]").Encoding, Is.EqualTo(SmsEncoding.Gsm7));
        });
    }

    [TestCase(70, 1)]
    [TestCase(71, 2)]
    [TestCase(134, 2)]
    [TestCase(135, 3)]
    public void Ucs2_is_70_code_units_alone_and_67_per_part(int length, int segments)
    {
        var count = SmsSegments.Count(string.Concat(Enumerable.Repeat(Cyrillic, length)));
        Assert.That(count, Is.EqualTo(new SegmentCount(SmsEncoding.Ucs2, segments, length)));
    }

    [Test]
    public void A_surrogate_pair_is_never_split_across_two_parts()
    {
        var body = string.Concat(Enumerable.Repeat(Cyrillic, 66)) + ThumbsUp + string.Concat(Enumerable.Repeat(Cyrillic, 66));
        Assert.That(SmsSegments.Count(body), Is.EqualTo(new SegmentCount(SmsEncoding.Ucs2, 3, 134)));
    }

    [TestCase(160, 1)]
    [TestCase(161, 2)]
    public async Task The_reservation_is_segments_times_the_country_rate_for_gsm7(int length, int segments)
    {
        await using var host = TwilioGuardHost.Start();
        await host.SendAsync(new string('x', length));

        var spend = await host.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);
        var record = host.Audit.Records.Single();
        Assert.Multiple(() =>
        {
            Assert.That(spend.Reserved, Is.EqualTo(Usd.FromMicros(TwilioGuardHost.UsSegment.Micros * segments)));
            Assert.That(record.Parameters!["encoding"], Is.EqualTo("gsm7"));
            Assert.That(record.Parameters!["segments"], Is.EqualTo(segments.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        });
    }

    [TestCase(70, 1)]
    [TestCase(71, 2)]
    public async Task The_reservation_is_segments_times_the_country_rate_for_ucs2(int length, int segments)
    {
        await using var host = TwilioGuardHost.Start();
        await host.SendAsync(string.Concat(Enumerable.Repeat(Cyrillic, length)));

        var spend = await host.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);
        Assert.Multiple(() =>
        {
            Assert.That(spend.Reserved, Is.EqualTo(Usd.FromMicros(TwilioGuardHost.UsSegment.Micros * segments)));
            Assert.That(host.Audit.Records.Single().Parameters!["encoding"], Is.EqualTo("ucs2"));
        });
    }

    [Test]
    public async Task Eighty_one_euro_signs_are_two_segments_through_the_client()
    {
        await using var host = TwilioGuardHost.Start();
        await host.SendAsync(new string('€', 81));

        var spend = await host.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);
        Assert.That(spend.Reserved, Is.EqualTo(Usd.FromMicros(TwilioGuardHost.UsSegment.Micros * 2)));
    }

    [Test]
    public async Task A_message_with_media_is_one_mms_at_the_country_mms_rate()
    {
        await using var host = TwilioGuardHost.Start();
        await host.SendAsync(new string('x', 400), media: [new Uri("https://example.com/cat.png")]);

        var spend = await host.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);
        Assert.That(spend.Reserved, Is.EqualTo(Usd.FromMicros(22_000)), "the shipped US MMS rate, whatever the body's length");
    }

    [Test]
    public async Task Media_to_a_country_without_an_mms_rate_is_the_body_plus_one_segment_for_the_link()
    {
        await using var host = TwilioGuardHost.Start();
        await host.SendAsync("Your receipt", to: "+447700900123", media: [new Uri("https://example.com/receipt.png")]);

        var spend = await host.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);
        Assert.That(spend.Reserved, Is.EqualTo(Usd.FromMicros(52_400 * 2)), "GB: one body segment plus one for the link, at $0.0524");
    }
}
