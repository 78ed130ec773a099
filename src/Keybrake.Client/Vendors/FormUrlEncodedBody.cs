using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace Keybrake.Client;

/// <summary>
/// A strictly parsed <c>application/x-www-form-urlencoded</c> body, as Stripe's v1 API and Twilio take.
/// Names keep their bracket notation (<c>transfer_data[destination]</c>, <c>metadata[order]</c>).
/// Invalid percent-escapes and invalid UTF-8 are errors, never guessed at.
/// </summary>
public sealed class FormUrlEncodedBody
{
    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly List<KeyValuePair<string, string>> _fields;

    private FormUrlEncodedBody(List<KeyValuePair<string, string>> fields) => _fields = fields;

    /// <summary>An empty body.</summary>
    public static FormUrlEncodedBody Empty { get; } = new([]);

    /// <summary>The fields in the order they were sent, names and values decoded.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Fields => _fields;

    /// <summary>Parses a body; on failure the error says what is wrong and where.</summary>
    public static bool TryParse(ReadOnlySpan<byte> body, [NotNullWhen(true)] out FormUrlEncodedBody? form, [NotNullWhen(false)] out string? error)
    {
        form = null;
        error = null;
        var fields = new List<KeyValuePair<string, string>>();
        var index = 0;
        while (!body.IsEmpty)
        {
            var end = body.IndexOf((byte)'&');
            var pair = end < 0 ? body : body[..end];
            body = end < 0 ? ReadOnlySpan<byte>.Empty : body[(end + 1)..];
            index++;
            if (pair.IsEmpty)
            {
                continue;
            }

            var equals = pair.IndexOf((byte)'=');
            var rawName = equals < 0 ? pair : pair[..equals];
            var rawValue = equals < 0 ? ReadOnlySpan<byte>.Empty : pair[(equals + 1)..];
            if (!TryDecode(rawName, out var name) || name.Length == 0)
            {
                error = $"field {index} of the form body has an empty or badly encoded name";
                return false;
            }

            if (!TryDecode(rawValue, out var value))
            {
                error = $"form field '{name}' has a badly encoded value";
                return false;
            }

            fields.Add(new KeyValuePair<string, string>(name, value));
        }

        form = new FormUrlEncodedBody(fields);
        return true;
    }

    /// <summary>
    /// Reads a field that must appear at most once. Returns <see langword="false"/> when it is sent more
    /// than once: the vendor would pick one, and a guard must not guess which.
    /// </summary>
    public bool TryGetSingle(string name, out string? value)
    {
        value = null;
        foreach (var field in _fields)
        {
            if (string.Equals(field.Key, name, StringComparison.Ordinal))
            {
                if (value is not null)
                {
                    return false;
                }

                value = field.Value;
            }
        }

        return true;
    }

    /// <summary>Whether any field has this name.</summary>
    public bool Contains(string name)
    {
        foreach (var field in _fields)
        {
            if (string.Equals(field.Key, name, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static bool TryDecode(ReadOnlySpan<byte> raw, out string text)
    {
        text = string.Empty;
        if (raw.IsEmpty)
        {
            return true;
        }

        if (raw.IndexOfAny((byte)'%', (byte)'+') < 0)
        {
            return TryGetString(raw, out text);
        }

        var buffer = raw.Length <= 256 ? stackalloc byte[raw.Length] : new byte[raw.Length];
        var length = 0;
        for (var i = 0; i < raw.Length; i++)
        {
            var b = raw[i];
            if (b == (byte)'+')
            {
                buffer[length++] = (byte)' ';
            }
            else if (b == (byte)'%')
            {
                if (i + 2 >= raw.Length || !IsHex(raw[i + 1]) || !IsHex(raw[i + 2]))
                {
                    return false;
                }

                buffer[length++] = (byte)((HexValue(raw[i + 1]) << 4) | HexValue(raw[i + 2]));
                i += 2;
            }
            else
            {
                buffer[length++] = b;
            }
        }

        return TryGetString(buffer[..length], out text);
    }

    private static bool TryGetString(ReadOnlySpan<byte> bytes, out string text)
    {
        try
        {
            text = s_strictUtf8.GetString(bytes);
            return true;
        }
        catch (DecoderFallbackException)
        {
            text = string.Empty;
            return false;
        }
    }

    private static bool IsHex(byte b) => b is (>= (byte)'0' and <= (byte)'9') or (>= (byte)'a' and <= (byte)'f') or (>= (byte)'A' and <= (byte)'F');

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        _ => b - 'A' + 10,
    };
}
