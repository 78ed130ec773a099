using System.Security.Cryptography;
using System.Text;

namespace Keybrake.BudgetService.Clients;

/// <summary>
/// Client credential tokens: <c>kbc_</c> (so that secret scanners can recognise one) and 43 random characters
/// from a 62-letter alphabet, about 256 bits. The service keeps their SHA-256 only: a token of that entropy needs
/// no slow hash, and the money path checks one on every call.
/// </summary>
internal static class ClientTokens
{
    public const string Prefix = "kbc_";
    private const string Alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

    public static string Create() => Prefix + RandomNumberGenerator.GetString(Alphabet, 43);

    public static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    /// <summary>The token an <c>Authorization</c> header carries, or <see langword="null"/> when it carries none.</summary>
    public static string? FromHeader(string? authorization)
    {
        const string Scheme = "Bearer ";
        if (authorization is null || !authorization.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var token = authorization[Scheme.Length..].Trim();
        return token.Length == 0 ? null : token;
    }
}
