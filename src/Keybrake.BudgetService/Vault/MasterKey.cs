using System.Security.Cryptography;
using System.Text;
using Keybrake.BudgetService.Hosting;

namespace Keybrake.BudgetService.Vault;

/// <summary>
/// One master key: 32 bytes, and the id the store records next to every secret sealed with it (the first 8 bytes, in
/// hex, of SHA-256 over a fixed label and the key), so that a wrong key is detected by id before any decryption is
/// tried. The id reveals nothing usable about the key.
/// </summary>
internal sealed class MasterKey
{
    public const int Length = 32;

    private static readonly byte[] s_idLabel = Encoding.ASCII.GetBytes("keybrake-vault-master-key-id\0");

    private MasterKey(byte[] key)
    {
        Key = key;
        var labelled = new byte[s_idLabel.Length + key.Length];
        s_idLabel.CopyTo(labelled, 0);
        key.CopyTo(labelled, s_idLabel.Length);
        Id = Convert.ToHexStringLower(SHA256.HashData(labelled).AsSpan(0, 8));
        CryptographicOperations.ZeroMemory(labelled);
    }

    public byte[] Key { get; }

    public string Id { get; }

    /// <summary>
    /// The key from its base64 text; a <see cref="ServiceStartException"/> naming <paramref name="source"/> when the
    /// text is not base64 of exactly 32 bytes. The message never holds the text.
    /// </summary>
    public static MasterKey Parse(string text, string source)
    {
        byte[] key;
        try
        {
            key = Convert.FromBase64String(text.Trim());
        }
        catch (FormatException)
        {
            throw new ServiceStartException($"{source} is not base64: it must be base64 of exactly {Length} random bytes (make one with: openssl rand -base64 32)");
        }

        if (key.Length != Length)
        {
            throw new ServiceStartException($"{source} is base64 of {key.Length} bytes; it must be base64 of exactly {Length} random bytes (make one with: openssl rand -base64 32)");
        }

        return new MasterKey(key);
    }

    /// <summary>The key in a file (a mounted secret: read, never rewritten); a one-line <see cref="ServiceStartException"/> when it cannot be used.</summary>
    public static MasterKey Read(string file, string setting)
    {
        var path = Path.GetFullPath(file);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            throw new ServiceStartException($"The master key file {path} ({setting}) cannot be read: {ServiceStartException.Reason(exception)}.", exception);
        }

        if (text.Trim().Length == 0)
        {
            throw new ServiceStartException($"The master key file {path} ({setting}) is empty; write base64 of {Length} random bytes into it (openssl rand -base64 32)");
        }

        return Parse(text, $"The master key in {path} ({setting})");
    }
}
