using System.Text;

namespace Keybrake.Client.Tests;

public sealed class RedactingStreamTests
{
    private const string Secret = "sk_test_51SplitAcrossReadsSecret/+value";
    private const string Credential = "QUMwMTIzOnNrX3Rlc3RfNTFTcGxpdA==";

    [TestCase(1)]
    [TestCase(3)]
    [TestCase(7)]
    [TestCase(4096)]
    [TestCase(16 * 1024)]
    [TestCase(16 * 1024 + 5)]
    public async Task Every_form_is_replaced_however_the_reads_split_the_body(int readSize)
    {
        var secrets = SecretForms.Create(Secret, Credential);
        var original = Body();

        var redacted = await ReadAllAsync(new RedactingStream(new TrickleStream(Encoding.UTF8.GetBytes(original), readSize), secrets), readSize);

        var expected = original
            .Replace(Secret.Replace("/", "\\/", StringComparison.Ordinal).Replace("+", "\\u002B", StringComparison.Ordinal), "[redacted]", StringComparison.Ordinal)
            .Replace(Secret, "[redacted]", StringComparison.Ordinal)
            .Replace(Credential, "[redacted]", StringComparison.Ordinal);
        Assert.Multiple(() =>
        {
            Assert.That(redacted, Does.Not.Contain(Secret));
            Assert.That(redacted, Does.Not.Contain(Credential));
            Assert.That(redacted, Is.EqualTo(expected), "everything else passes through unchanged, in order");
        });
    }

    [Test]
    public void A_body_without_the_secret_passes_through_byte_for_byte_with_a_sync_reader()
    {
        var secrets = SecretForms.Create(Secret, null);
        var original = new byte[3 * 1024 * 1024];
        new Random(7).NextBytes(original);

        using var redacting = new RedactingStream(new TrickleStream(original, 1000), secrets);
        using var copy = new MemoryStream();
        redacting.CopyTo(copy);

        Assert.That(copy.ToArray(), Is.EqualTo(original));
    }

    [Test]
    public void Values_too_short_to_be_secrets_are_not_looked_for()
    {
        var secrets = SecretForms.Create("abc", null);

        Assert.That(secrets.IsEmpty, Is.True, "replacing every 'abc' would garble the answer and protect nothing");
    }

    // The secret at every offset around the 16 KiB read boundary, at the very start and the very end, and in each form.
    private static string Body()
    {
        var text = new StringBuilder("""{"error":{"message":"Invalid API Key provided: Bearer """).Append(Secret).Append("\"},\"pad\":\"");
        for (var offset = (16 * 1024) - 60; offset < (16 * 1024) + 60; offset += 7)
        {
            text.Append('x', Math.Max(0, offset - text.Length)).Append(Secret);
        }

        text.Append("\",\"escaped\":\"").Append(Secret.Replace("/", "\\/", StringComparison.Ordinal).Replace("+", "\\u002B", StringComparison.Ordinal));
        text.Append("\",\"basic\":\"Basic ").Append(Credential).Append("\",\"partial\":\"").Append(Secret[..20]).Append("\"}");
        return text.Append(Secret).ToString();
    }

    private static async Task<string> ReadAllAsync(Stream stream, int readSize)
    {
        await using (stream)
        {
            var output = new MemoryStream();
            var buffer = new byte[Math.Max(1, readSize)];
            int read;
            while ((read = await stream.ReadAsync(buffer)) > 0)
            {
                output.Write(buffer, 0, read);
            }

            return Encoding.UTF8.GetString(output.ToArray());
        }
    }

    /// <summary>A body that arrives at most <c>chunk</c> bytes per read, as a slow network delivers it.</summary>
    private sealed class TrickleStream(byte[] data, int chunk) : MemoryStream(data, writable: false)
    {
        public override int Read(Span<byte> buffer) => base.Read(buffer[..Math.Min(buffer.Length, chunk)]);

        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, chunk));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, chunk)], cancellationToken);
    }
}
