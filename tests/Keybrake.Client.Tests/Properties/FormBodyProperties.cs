using System.Text;
using CsCheck;
using Keybrake.Client.TestUtilities.Properties;

namespace Keybrake.Client.Tests;

/// <summary>The form-body reader under generated input: it never throws, reads back what was encoded, and is stable.</summary>
public sealed class FormBodyProperties
{
    /// <summary>Bytes that matter to the grammar, hex digits, and bytes that are not UTF-8 on their own.</summary>
    private static readonly Gen<byte[]> s_bodies = Gen.OneOf(
        Gen.Byte.Array[0, 64],
        Gen.OneOf("a=&%+0Fz9 \u00ff\u00c3\u0080[]".Select(c => (byte)c).ToArray()).Array[0, 64]);

    /// <summary>Text with ASCII, Latin, symbols and characters outside the BMP, never a lone surrogate.</summary>
    private static readonly Gen<string> s_text = Gen.OneOf(
        Gen.String["abc XYZ019=&%+[]~-_.!*'()"],
        Gen.OneOf("a", "é", "€", "😀", " ", "&", "=", "%", "+", "[]", "\0", "\n").Array[0, 8].Select(parts => string.Concat(parts)));

    private static readonly Gen<List<KeyValuePair<string, string>>> s_fields =
        Gen.Select(s_text.Where(name => name.Length > 0), s_text, (name, value) => new KeyValuePair<string, string>(name, value)).List[0, 6];

    [Test]
    public void No_exception_escapes_and_every_name_read_is_non_empty()
    {
        s_bodies.Sample(body =>
        {
            if (FormUrlEncodedBody.TryParse(body, out var form, out var error))
            {
                Assert.That(form.Fields.All(f => f.Key.Length > 0), Is.True);
            }
            else
            {
                Assert.That(error, Is.Not.Empty);
            }
        }, iter: PropertyRuns.Iterations);
    }

    [Test]
    public void What_is_encoded_in_any_valid_way_is_read_back_exactly()
    {
        Gen.Select(s_fields, Gen.Int.Array[64], (fields, choices) => (fields, choices)).Sample(sample =>
        {
            var body = Encode(sample.fields, sample.choices);

            Assert.That(FormUrlEncodedBody.TryParse(body, out var form, out var error), Is.True, error);
            Assert.That(form!.Fields, Is.EqualTo(sample.fields));
        }, iter: PropertyRuns.Iterations);
    }

    [Test]
    public void Reading_what_was_read_gives_the_same_fields()
    {
        s_bodies.Sample(body =>
        {
            if (!FormUrlEncodedBody.TryParse(body, out var once, out _))
            {
                return;
            }

            var again = Encode(once.Fields, choices: [0]);
            Assert.That(FormUrlEncodedBody.TryParse(again, out var twice, out var error), Is.True, error);
            Assert.That(twice!.Fields, Is.EqualTo(once.Fields));
        }, iter: PropertyRuns.Iterations);
    }

    /// <summary>
    /// Encodes fields as a client may: each byte that needs it percent-encoded (hex in either case), any other
    /// byte raw or encoded, a space as '+' or %20. <paramref name="choices"/> picks among those ways.
    /// </summary>
    internal static byte[] Encode(IEnumerable<KeyValuePair<string, string>> fields, int[] choices)
    {
        var output = new List<byte>();
        var next = 0;
        int Choose() => choices[next++ % choices.Length] & 0x7;
        void Write(string text)
        {
            foreach (var b in Encoding.UTF8.GetBytes(text))
            {
                var choice = Choose();
                if (b == (byte)' ' && choice < 4)
                {
                    output.Add((byte)'+');
                }
                else if (b is (byte)'&' or (byte)'=' or (byte)'%' or (byte)'+' or (byte)' ' || choice == 7)
                {
                    output.AddRange(Encoding.ASCII.GetBytes(choice % 2 == 0 ? $"%{b:X2}" : $"%{b:x2}"));
                }
                else
                {
                    output.Add(b);
                }
            }
        }

        var first = true;
        foreach (var (name, value) in fields)
        {
            if (!first)
            {
                output.Add((byte)'&');
            }

            first = false;
            Write(name);
            output.Add((byte)'=');
            Write(value);
        }

        return [.. output];
    }
}
