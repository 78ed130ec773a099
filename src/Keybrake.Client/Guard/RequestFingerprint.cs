using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Security.Cryptography;
using System.Text;

namespace Keybrake.Client;

/// <summary>128-bit hashes the guard and the ledger compare requests and calls by.</summary>
internal static class RequestFingerprint
{
    /// <summary>
    /// Hashes method, path, query and body (XxHash128, the same in every process): identical requests share
    /// it. The loop breaker counts repeats by it, and the ledger uses it to notice an idempotency key reused
    /// for a different request. It is fast rather than collision-resistant, and that is enough here: a request
    /// crafted to collide could only pass as the retry of an earlier one, and the vendor itself refuses an
    /// idempotency key reused with different parameters.
    /// </summary>
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
            return XxHash128.HashToUInt128(rented.AsSpan(0, written));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// Identifies one key's idempotency key (SHA-256), so the ledger can remember finished calls without
    /// holding strings. Collision-resistant on purpose: the agent chooses its idempotency keys, and a new key
    /// that collided with a settled call's would let a new charge pass as that call's replay, uncounted.
    /// </summary>
    public static UInt128 ForIdempotencyKey(string keyId, string idempotencyKey)
    {
        var length = Encoding.UTF8.GetMaxByteCount(keyId.Length + idempotencyKey.Length + 1);
        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var written = Encoding.UTF8.GetBytes(keyId, rented);
            rented[written++] = (byte)'\n';
            written += Encoding.UTF8.GetBytes(idempotencyKey, rented.AsSpan(written));
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
