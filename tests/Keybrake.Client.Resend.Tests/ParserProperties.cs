using System.Text;
using CsCheck;
using Keybrake.Client.TestUtilities.Properties;

namespace Keybrake.Client.Resend.Tests;

/// <summary>
/// Resend's parsers under generated input: recipient addresses and domains, the send body reader and the
/// send-result reader. No exception escapes; what is read is what was written; normalising is stable.
/// </summary>
public sealed class ParserProperties
{
    private static readonly Gen<string> s_label = Gen.String[Gen.Char["abcxyzABC0189-"], 1, 12].Where(l => l[0] != '-' && l[^1] != '-');

    private static readonly Gen<string> s_domain = Gen.Frequency(
        (4, s_label.Array[1, 4].Select(labels => string.Join('.', labels))),
        (1, Gen.OneOf("bücher.example", "例え.テスト", "xn--bcher-kva.example", "EXAMPLE.COM.")));

    private static readonly Gen<string> s_local = Gen.String[Gen.Char["abcXYZ019._+-"], 1, 16];

    /// <summary>Strings built of the characters that matter to an address: at signs, brackets, quotes, separators.</summary>
    private static readonly Gen<string> s_rawRecipients = Gen.OneOf(
        Gen.String[Gen.Char["a@<>\" ,;.-xé\t\uD800"], 0, 30],
        Gen.String[0, 30]);

    [Test]
    public void A_recipient_reads_as_its_domain_in_lower_case_with_or_without_a_display_name()
    {
        Gen.Select(s_local, s_domain, Gen.OneOf<string?>(null, "Jane Doe", "J")).Sample((local, domain, name) =>
        {
            var recipient = name is null ? $"{local}@{domain}" : $"{name} <{local}@{domain}>";

            Assert.That(RecipientAddress.TryGetDomain(recipient, out var read, out var problem), Is.True, $"{recipient}: {problem}");
            Assert.That(RecipientAddress.TryNormalize(domain, out var expected, out _), Is.True, domain);
            Assert.That(read, Is.EqualTo(expected));
            Assert.That(read, Is.EqualTo(read!.ToLowerInvariant()));
        }, iter: PropertyRuns.Iterations);
    }

    [Test]
    public void No_exception_escapes_and_normalising_a_domain_twice_gives_what_once_gave()
    {
        s_rawRecipients.Sample(recipient =>
        {
            if (RecipientAddress.TryGetDomain(recipient, out var domain, out _))
            {
                Assert.That(RecipientAddress.TryNormalize(domain, out var again, out var problem), Is.True, problem);
                Assert.That(again, Is.EqualTo(domain));
                Assert.That(recipient.Count(c => c == '@'), Is.EqualTo(1), "one address, one at sign");
            }
        }, iter: PropertyRuns.Iterations);
    }

    [Test]
    public void The_body_and_result_readers_never_throw()
    {
        var values = Gen.OneOf("\"jane@customer.example\"", "\"\\uD800@x.example\"", "[\"a@b.example\",\"\\uDC00\"]", "[]", "null", "1", "{}", "[{}]", "\"x\"");
        var keys = Gen.OneOf("to", "cc", "bcc", "t\\u006f", "id", "data", "errors", "index", "subject");
        var objects = Gen.Select(keys, values, (key, value) => $"\"{key}\":{value}").Array[0, 5].Select(fields => "{" + string.Join(',', fields) + "}");
        var documents = Gen.OneOf(objects, objects.Array[0, 3].Select(items => "[" + string.Join(',', items) + "]"));
        var bodies = Gen.OneOf(documents.Select(Encoding.UTF8.GetBytes), Gen.Byte.Array[0, 64]);

        Gen.Select(bodies, Gen.Bool).Sample((body, batch) =>
        {
            if (ResendEmailBody.TryRead(body, batch, out var emails, out var problem))
            {
                Assert.That(emails, Is.Not.Empty);
            }
            else
            {
                Assert.That(problem, Is.Not.Empty);
            }

            _ = ResendSendResult.Parse(body, batch);
        }, iter: PropertyRuns.Iterations);
    }
}
