using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Keybrake.BudgetService.Vault;

/// <summary>
/// AES-256-GCM over one vendor secret: a random 12-byte nonce per sealing, a 16-byte tag, stored as
/// nonce | ciphertext | tag. The associated data binds the ciphertext to its key id and secret version, so a sealed
/// secret copied onto another key, or onto another version of its key, does not open.
/// </summary>
internal static class SecretSealing
{
    public const int NonceBytes = 12;
    public const int TagBytes = 16;

    private static readonly byte[] s_label = Encoding.ASCII.GetBytes("keybrake-vault-v1\0");

    public static byte[] Seal(MasterKey master, string keyId, long version, string secret)
    {
        var plaintext = Encoding.UTF8.GetBytes(secret);
        var sealedBytes = new byte[NonceBytes + plaintext.Length + TagBytes];
        var nonce = sealedBytes.AsSpan(0, NonceBytes);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(master.Key, TagBytes);
        aes.Encrypt(nonce, plaintext, sealedBytes.AsSpan(NonceBytes, plaintext.Length), sealedBytes.AsSpan(NonceBytes + plaintext.Length), AssociatedData(keyId, version));
        CryptographicOperations.ZeroMemory(plaintext);
        return sealedBytes;
    }

    /// <summary>The secret, or <see langword="null"/> when the bytes do not open under this key, key id and version.</summary>
    public static string? Open(MasterKey master, string keyId, long version, byte[] sealedBytes)
    {
        if (sealedBytes.Length < NonceBytes + TagBytes)
        {
            return null;
        }

        var length = sealedBytes.Length - NonceBytes - TagBytes;
        var plaintext = new byte[length];
        try
        {
            using var aes = new AesGcm(master.Key, TagBytes);
            aes.Decrypt(sealedBytes.AsSpan(0, NonceBytes), sealedBytes.AsSpan(NonceBytes, length), sealedBytes.AsSpan(NonceBytes + length), plaintext, AssociatedData(keyId, version));
            return Encoding.UTF8.GetString(plaintext);
        }
        catch (AuthenticationTagMismatchException)
        {
            return null;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    private static byte[] AssociatedData(string keyId, long version)
    {
        var id = Encoding.UTF8.GetBytes(keyId);
        var data = new byte[s_label.Length + id.Length + 1 + sizeof(long)];
        s_label.CopyTo(data, 0);
        id.CopyTo(data, s_label.Length);
        BinaryPrimitives.WriteInt64BigEndian(data.AsSpan(s_label.Length + id.Length + 1), version);
        return data;
    }
}
