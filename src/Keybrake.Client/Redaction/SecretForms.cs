using System.Text;

namespace Keybrake.Client;

/// <summary>
/// Every spelling in which the guard sent a key's secret: the secret itself (a Bearer token, the password in
/// Twilio's Basic credential), the credential as it went on the wire (Twilio's base64 <c>user:secret</c>), and
/// each as a JSON encoder may escape it. A vendor that echoes the request back has to use one of these.
/// </summary>
internal sealed class SecretForms
{
    /// <summary>What a secret is replaced with.</summary>
    public const string Replacement = VendorCall.RedactedValue;

    /// <summary>
    /// Shorter values are not looked for: no vendor issues a secret that short, and replacing every occurrence
    /// of a few common characters would garble the answer instead of protecting anything.
    /// </summary>
    public const int MinLength = 8;

    private static readonly byte[] s_replacement = Encoding.UTF8.GetBytes(Replacement);

    private readonly string[] _strings;
    private readonly byte[][] _utf8;

    private SecretForms(string secret, string? credential, string[] strings)
    {
        Secret = secret;
        Credential = credential;
        _strings = strings;
        _utf8 = [.. strings.Select(Encoding.UTF8.GetBytes)];
        MaxLength = _utf8.Length == 0 ? 0 : _utf8.Max(form => form.Length);
        MinFormLength = _utf8.Length == 0 ? 0 : _utf8.Min(form => form.Length);
    }

    public string Secret { get; }

    public string? Credential { get; }

    /// <summary>The longest form in UTF-8 bytes: how much a streaming reader must hold back between reads.</summary>
    public int MaxLength { get; }

    /// <summary>The shortest form in UTF-8 bytes: bounds how much larger a redacted text can grow.</summary>
    public int MinFormLength { get; }

    public bool IsEmpty => _strings.Length == 0;

    public static ReadOnlySpan<byte> ReplacementUtf8 => s_replacement;

    /// <summary>The forms of <paramref name="secret"/>, and of <paramref name="credential"/> when it is what went on the wire instead.</summary>
    public static SecretForms Create(string secret, string? credential)
    {
        var forms = new List<string>(4);
        Add(forms, secret);
        if (credential is not null && !string.Equals(credential, secret, StringComparison.Ordinal))
        {
            Add(forms, credential);
        }

        // Longest first, so that where two forms start at the same place the whole of the longer one goes.
        forms.Sort((a, b) => b.Length.CompareTo(a.Length));
        return new SecretForms(secret, credential, [.. forms]);
    }

    private static void Add(List<string> forms, string value)
    {
        if (value.Length < MinLength)
        {
            return;
        }

        forms.Add(value);

        // How JSON encoders may write it back: "/" as "\/" (several do), "+" as "\u002B" (System.Text.Json).
        if (value.AsSpan().IndexOfAny('/', '+') >= 0)
        {
            forms.Add(value.Replace("/", "\\/", StringComparison.Ordinal).Replace("+", "\\u002B", StringComparison.Ordinal));
        }
    }

    public bool IsIn(string text)
    {
        foreach (var form in _strings)
        {
            if (text.Contains(form, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    public string Redact(string text)
    {
        foreach (var form in _strings)
        {
            text = text.Replace(form, Replacement, StringComparison.Ordinal);
        }

        return text;
    }

    /// <summary>The first form in <paramref name="bytes"/>: where it starts and how long it is; (-1, 0) when none is.</summary>
    public (int Index, int Length) FindFirst(ReadOnlySpan<byte> bytes)
    {
        var index = -1;
        var length = 0;
        foreach (var form in _utf8)
        {
            var limit = index < 0 ? bytes : bytes[..Math.Min(bytes.Length, index + form.Length)];
            var found = limit.IndexOf(form);
            if (found >= 0 && (index < 0 || found < index))
            {
                index = found;
                length = form.Length;
            }
        }

        return (index, length);
    }
}
