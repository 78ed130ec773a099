using System.Buffers;

namespace Keybrake.Client;

/// <summary>
/// Reads a request or response body for inspection without taking it from its reader: the content is
/// buffered in place (so the vendor or the SDK can still read it) and copied into a pooled array, which the
/// caller returns with <see cref="Return"/>.
/// </summary>
internal static class ContentBuffer
{
    private const int FirstChunkBytes = 16 * 1024;

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

        return await CopyBufferedAsync(content, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Copies a response body into a pooled array; <c>TooLarge</c> when it exceeds <paramref name="maxBytes"/>.
    /// Whatever the outcome, the SDK still reads the whole body: a body of unknown length (chunked) is read
    /// here from the network, and the response gets content that replays what was read followed by the rest.
    /// </summary>
    public static async ValueTask<(byte[]? Rented, int Length, bool TooLarge)> RentCopyAsync(HttpResponseMessage response, int maxBytes, CancellationToken cancellationToken)
    {
        var content = response.Content;
        if (content.Headers.ContentLength is not null)
        {
            // A known length is enforced by the connection, so buffering within the bound cannot fail part-way.
            return await RentCopyAsync(content, maxBytes, cancellationToken).ConfigureAwait(false);
        }

        // Not LoadIntoBufferAsync(maxBytes): on a body over the bound it throws after consuming part of the
        // stream, and what it read is lost to the SDK.
        var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var rented = ArrayPool<byte>.Shared.Rent(Math.Min(FirstChunkBytes, maxBytes + 1));
        var length = 0;
        try
        {
            while (length <= maxBytes)
            {
                if (length == rented.Length)
                {
                    rented = Grow(rented, length, Math.Min((long)rented.Length * 2, (long)maxBytes + 1));
                }

                var read = await stream.ReadAsync(rented.AsMemory(length, Math.Min(rented.Length, maxBytes + 1) - length), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    response.Content = WithHeadersOf(content, new ByteArrayContent(rented.AsSpan(0, length).ToArray()));
                    content.Dispose();
                    if (length == 0)
                    {
                        ArrayPool<byte>.Shared.Return(rented);
                        return (null, 0, false);
                    }

                    return (rented, length, false);
                }

                length += read;
            }

            response.Content = WithHeadersOf(content, new ReplayContent(rented.AsSpan(0, length).ToArray(), stream, content));
            ArrayPool<byte>.Shared.Return(rented);
            return (null, 0, true);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(rented);
            throw;
        }
    }

    public static void Return(byte[]? rented)
    {
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static async ValueTask<(byte[]? Rented, int Length, bool TooLarge)> CopyBufferedAsync(HttpContent content, CancellationToken cancellationToken)
    {
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

    private static byte[] Grow(byte[] rented, int length, long size)
    {
        var larger = ArrayPool<byte>.Shared.Rent((int)size);
        rented.AsSpan(0, length).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(rented);
        return larger;
    }

    private static HttpContent WithHeadersOf(HttpContent original, HttpContent replacement)
    {
        foreach (var (name, values) in original.Headers)
        {
            replacement.Headers.TryAddWithoutValidation(name, values);
        }

        return replacement;
    }

    /// <summary>What the guard read of a body too large to inspect, then the rest straight from the network.</summary>
    private sealed class ReplayContent(byte[] prefix, Stream rest, HttpContent original) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context, CancellationToken cancellationToken)
        {
            await stream.WriteAsync(prefix, cancellationToken).ConfigureAwait(false);
            await rest.CopyToAsync(stream, cancellationToken).ConfigureAwait(false);
        }

        protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) =>
            SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                rest.Dispose();
                original.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
