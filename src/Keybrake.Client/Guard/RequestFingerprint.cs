using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Keybrake.Client;

/// <summary>
/// 128-bit SHA-256 prefixes. <see cref="Compute"/> hashes method, path, query and body: identical requests
/// share it; the loop breaker counts by it, and the ledger uses it to catch an idempotency key reused for a
/// different request. SHA-256 rather than a faster non-cryptographic hash because the agent chooses the
/// bytes: a collision it could craft would make a new charge look like the replay of an old one.
/// </summary>
internal static class RequestFingerprint
{
    /// <summary>Identifies one key's idempotency key, so the ledger can remember finished calls without holding strings.</summary>
    public static UInt128 ForIdempotencyKey(string keyId, string idempotencyKey)
    {
        var length = Encoding.UTF8.GetMaxByteCount(keyId.Length + idempotencyKey.Length + 1);
        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var written = Encoding.UTF8.GetBytes(keyId, rented);
            rented[written++] = (byte)'\n';
            written += Encoding.UTF8.GetBytes(idempotencyKey, rented.AsSpan(written));
            return Hash(rented.AsSpan(0, written));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

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

            return Hash(rented.AsSpan(0, written));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static UInt128 Hash(ReadOnlySpan<byte> bytes)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(bytes, hash);
        return new UInt128(BinaryPrimitives.ReadUInt64LittleEndian(hash), BinaryPrimitives.ReadUInt64LittleEndian(hash[8..]));
    }
}
