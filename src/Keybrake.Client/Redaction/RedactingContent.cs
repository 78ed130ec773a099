using System.Net;

namespace Keybrake.Client;

/// <summary>
/// A response body handed to the SDK with the secret replaced, read through <see cref="RedactingStream"/> as
/// the SDK reads it. Its length is unknown until read: a redaction changes it.
/// </summary>
internal sealed class RedactingContent : HttpContent
{
    private readonly HttpContent _inner;
    private readonly SecretForms _secrets;

    public RedactingContent(HttpContent inner, SecretForms secrets)
    {
        _inner = inner;
        _secrets = secrets;
        foreach (var (name, values) in inner.Headers.NonValidated)
        {
            if (string.Equals(name, "Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            foreach (var value in values)
            {
                Headers.TryAddWithoutValidation(name, secrets.Redact(value));
            }
        }
    }

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        var redacting = await CreateContentReadStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (redacting.ConfigureAwait(false))
        {
            await redacting.CopyToAsync(stream, cancellationToken).ConfigureAwait(false);
        }
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override void SerializeToStream(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        using var redacting = CreateContentReadStream(cancellationToken);
        redacting.CopyTo(stream);
    }

    protected override async Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken) =>
        new RedactingStream(await _inner.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), _secrets);

    protected override Task<Stream> CreateContentReadStreamAsync() => CreateContentReadStreamAsync(CancellationToken.None);

    protected override Stream CreateContentReadStream(CancellationToken cancellationToken) =>
        new RedactingStream(_inner.ReadAsStream(cancellationToken), _secrets);

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
