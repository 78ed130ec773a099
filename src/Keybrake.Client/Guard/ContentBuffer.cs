using System.Buffers;

namespace Keybrake.Client;

/// <summary>
/// Reads a request or response body for inspection without taking it from its reader: the content is
/// buffered in place (so the vendor or the SDK can still read it) and copied into a pooled array, which the
/// caller returns with <see cref="Return"/>.
/// </summary>
internal static class ContentBuffer
{
    /// <summary>Copies the content into a pooled array; <c>TooLarge</c> when it exceeds <paramref name="maxBytes"/>.</summary>
    public static async ValueTask<(byte[]? Rented, int Length, bool TooLarge)> RentCopyAsync(HttpContent content, int maxBytes, CancellationToken cancellationToken)
    {
        if (content.Headers.ContentLength > maxBytes)
        {
            return (null, 0, true);
        }

        try
        {
            await content.LoadIntoBufferAsync(maxBytes, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException)
        {
            return (null, 0, true); // the buffer limit was hit while reading a body of unknown length
        }

        var length = (int)(content.Headers.ContentLength ?? 0);
        if (length == 0)
        {
            return (null, 0, false);
        }

        // Not ReadAsStreamAsync: HttpContent caches that stream, and its real reader would find it at the end.
        var rented = ArrayPool<byte>.Shared.Rent(length);
        var target = new MemoryStream(rented, 0, length, writable: true);
        await using (target.ConfigureAwait(false))
        {
            await content.CopyToAsync(target, cancellationToken).ConfigureAwait(false);
        }

        return (rented, length, false);
    }

    public static void Return(byte[]? rented)
    {
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }
}
