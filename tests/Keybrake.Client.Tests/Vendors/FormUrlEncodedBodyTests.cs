using System.Text;

namespace Keybrake.Client.Tests;

public sealed class FormUrlEncodedBodyTests
{
    [Test]
    public void Bracket_names_are_kept_as_written()
    {
        var form = Parse("transfer_data[destination]=acct_1&metadata[order]=42");

        Assert.That(form.Fields, Is.EqualTo(new[]
        {
            new KeyValuePair<string, string>("transfer_data[destination]", "acct_1"),
            new KeyValuePair<string, string>("metadata[order]", "42"),
        }));
    }

    [Test]
    public void Percent_encoded_brackets_in_names_decode_to_the_same_name()
    {
        var form = Parse("metadata%5Border%5D=42");

        Assert.That(form.Fields.Single().Key, Is.EqualTo("metadata[order]"));
    }

    [Test]
    public void A_plus_is_a_space_and_percent_escapes_decode_as_UTF_8()
    {
        var form = Parse("note=hello+world&name=J%C3%BCrgen&sign=%2B1&amp=a%26b");

        Assert.Multiple(() =>
        {
            Assert.That(Single(form, "note"), Is.EqualTo("hello world"));
            Assert.That(Single(form, "name"), Is.EqualTo("Jürgen"));
            Assert.That(Single(form, "sign"), Is.EqualTo("+1"));
            Assert.That(Single(form, "amp"), Is.EqualTo("a&b"));
        });
    }

    [TestCase("amount=%ZZ", "form field 'amount' has a badly encoded value")]
    [TestCase("amount=%4", "form field 'amount' has a badly encoded value")]
    [TestCase("amount=10%", "form field 'amount' has a badly encoded value")]
    [TestCase("amount=%FF%FE", "form field 'amount' has a badly encoded value")]
    [TestCase("amount=%C0%AF", "form field 'amount' has a badly encoded value")]
    [TestCase("a=1&%ZZ=2", "field 2 of the form body has an empty or badly encoded name")]
    [TestCase("=100", "field 1 of the form body has an empty or badly encoded name")]
    public void Invalid_escapes_invalid_UTF_8_and_empty_names_are_errors(string body, string expected)
    {
        var ok = FormUrlEncodedBody.TryParse(Encoding.ASCII.GetBytes(body), out var form, out var error);

        Assert.Multiple(() =>
        {
            Assert.That(ok, Is.False);
            Assert.That(form, Is.Null);
            Assert.That(error, Is.EqualTo(expected));
        });
    }

    [Test]
    public void Raw_bytes_that_are_not_UTF_8_are_an_error()
    {
        var ok = FormUrlEncodedBody.TryParse([(byte)'a', (byte)'=', 0xFF], out _, out var error);

        Assert.Multiple(() =>
        {
            Assert.That(ok, Is.False);
            Assert.That(error, Does.Contain("'a'"));
        });
    }

    [Test]
    public void Empty_pairs_are_skipped_and_a_name_without_equals_has_an_empty_value()
    {
        var form = Parse("&&a=1&&flag&");

        Assert.That(form.Fields, Is.EqualTo(new[]
        {
            new KeyValuePair<string, string>("a", "1"),
            new KeyValuePair<string, string>("flag", string.Empty),
        }));
    }

    [Test]
    public void An_empty_body_has_no_fields()
    {
        var form = Parse(string.Empty);

        Assert.Multiple(() =>
        {
            Assert.That(form.Fields, Is.Empty);
            Assert.That(FormUrlEncodedBody.Empty.Fields, Is.Empty);
        });
    }

    [Test]
    public void TryGetSingle_is_false_for_a_field_sent_twice_even_with_the_same_or_an_empty_value()
    {
        var form = Parse("amount=100&amount=100000&blank=&blank=&once=1");

        Assert.Multiple(() =>
        {
            Assert.That(form.TryGetSingle("amount", out _), Is.False);
            Assert.That(form.TryGetSingle("blank", out _), Is.False);
            Assert.That(form.TryGetSingle("once", out var once), Is.True);
            Assert.That(once, Is.EqualTo("1"));
            Assert.That(form.TryGetSingle("absent", out var absent), Is.True);
            Assert.That(absent, Is.Null);
        });
    }

    [Test]
    public void Names_are_case_sensitive()
    {
        var form = Parse("Amount=1&amount=2");

        Assert.Multiple(() =>
        {
            Assert.That(form.TryGetSingle("amount", out var value), Is.True);
            Assert.That(value, Is.EqualTo("2"));
            Assert.That(form.Contains("AMOUNT"), Is.False);
            Assert.That(form.Contains("Amount"), Is.True);
        });
    }

    [Test]
    public void A_long_value_with_escapes_decodes_past_the_stack_buffer()
    {
        var value = string.Concat(Enumerable.Repeat("%41", 200));

        var form = Parse("long=" + value);

        Assert.That(Single(form, "long"), Is.EqualTo(new string('A', 200)));
    }

    private static FormUrlEncodedBody Parse(string body)
    {
        Assert.That(FormUrlEncodedBody.TryParse(Encoding.ASCII.GetBytes(body), out var form, out var error), Is.True, error);
        return form!;
    }

    private static string? Single(FormUrlEncodedBody form, string name)
    {
        Assert.That(form.TryGetSingle(name, out var value), Is.True, name);
        return value;
    }
}
