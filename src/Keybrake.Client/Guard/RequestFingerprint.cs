using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Keybrake.Client;

/// <summary>
/// A 128-bit hash of method, path, query and body: identical requests share it. The loop breaker counts by
/// it, and the ledger uses it to catch an idempotency key reused for a different request.
/// </summary>
internal static class RequestFingerprint
{
    public static UInt128 Compute(string method, Uri uri, ReadOnlySpan<byte> body)
    {
        var pathAndQuery = uri.PathAndQuery;
        var length = Encoding.UTF8.GetMaxByteCount(method.Length + pathAndQuery.Length + 2) + body.Length;
        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var written = Encoding.UTF8.GetBytes(method, rented);
            rented[written++] = (byte)'\n';
            written += Encoding.UTF8.GetBytes(pathAndQuery, rented.AsSpan(written));
            rented[written++] = (byte)'\n';
            body.CopyTo(rented.AsSpan(written));
            written += body.Length;

            Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
            SHA256.HashData(rented.AsSpan(0, written), hash);
            return new UInt128(BinaryPrimitives.ReadUInt64LittleEndian(hash), BinaryPrimitives.ReadUInt64LittleEndian(hash[8..]));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }
}
