using System.Globalization;
using System.Security.Cryptography;

namespace Keybrake.Policies;

/// <summary>
/// Ids such as <c>rsv_...</c> and <c>aud_...</c>: a prefix naming the kind, then 12 hex digits of Unix
/// milliseconds (so ids sort roughly by time) and 32 hex digits of cryptographic randomness: 128 random bits.
/// A reservation id is all a caller needs to settle a reservation, and an audit record id is what intake
/// de-duplicates by, so neither may be guessable from another id.
/// </summary>
public sealed class IdGenerator
{
    private const int RandomBytes = 16;

    private readonly TimeProvider _time;

    /// <summary>Creates a generator that reads the time from <paramref name="time"/>.</summary>
    /// <param name="time">The clock.</param>
    public IdGenerator(TimeProvider time) => _time = time;

    /// <summary>A new id: <paramref name="prefix"/>, 12 hex digits of Unix milliseconds, 32 random hex digits.</summary>
    /// <param name="prefix">The kind, such as <c>rsv_</c>.</param>
    public string New(string prefix)
    {
        Span<byte> bytes = stackalloc byte[RandomBytes];
        RandomNumberGenerator.Fill(bytes);
        var state = (prefix, Milliseconds: _time.GetUtcNow().ToUnixTimeMilliseconds() & 0xFFFF_FFFF_FFFF, Random: System.Buffers.Binary.BinaryPrimitives.ReadUInt128LittleEndian(bytes));
        return string.Create(prefix.Length + 12 + (RandomBytes * 2), state, static (span, s) =>
        {
            s.prefix.CopyTo(span);
            span = span[s.prefix.Length..];
            s.Milliseconds.TryFormat(span[..12], out _, "x12", CultureInfo.InvariantCulture);
            s.Random.TryFormat(span[12..], out _, "x32", CultureInfo.InvariantCulture);
        });
    }
}
