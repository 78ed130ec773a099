using System.Security.Cryptography;
using System.Text;

namespace Keybrake.BudgetService.Alerts;

/// <summary>
/// The signature of a webhook POST: lowercase hex HMAC-SHA256, keyed by the webhook's secret, over
/// <c>{timestamp}.{body}</c>, where the timestamp is the <c>Keybrake-Timestamp</c> header (Unix seconds) and the body
/// the exact bytes posted. Signing the timestamp with the body lets a receiver refuse an old request replayed.
/// </summary>
internal static class WebhookSignature
{
    public const string SignatureHeader = "Keybrake-Signature";
    public const string TimestampHeader = "Keybrake-Timestamp";
    public const string AlertIdHeader = "Keybrake-Alert-Id";

    public static string Compute(byte[] secret, long unixSeconds, byte[] body)
    {
        var prefix = Encoding.UTF8.GetBytes(unixSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture) + ".");
        var signed = new byte[prefix.Length + body.Length];
        prefix.CopyTo(signed, 0);
        body.CopyTo(signed, prefix.Length);
        return Convert.ToHexStringLower(HMACSHA256.HashData(secret, signed));
    }
}
