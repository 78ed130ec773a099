using System.Globalization;
using System.Security.Cryptography;

namespace Keybrake.Client;

/// <summary>
/// Ids such as <c>rsv_...</c> and <c>aud_...</c>: a prefix naming the kind, then 32 hex digits of Unix
/// milliseconds (so ids sort roughly by time), a random per-process nonce and a counter. Unique within a
/// process by the counter and across processes by the nonce, at a fraction of the cost of a random GUID per id.
/// </summary>
internal sealed class IdGenerator
{
    private readonly TimeProvider _time;
    private readonly uint _nonce = BitConverter.ToUInt32(RandomNumberGenerator.GetBytes(sizeof(uint)));
    private long _counter;

    public IdGenerator(TimeProvider time) => _time = time;

    public string New(string prefix)
    {
        var state = (prefix, Milliseconds: _time.GetUtcNow().ToUnixTimeMilliseconds(), _nonce, Counter: Interlocked.Increment(ref _counter));
        return string.Create(prefix.Length + 32, state, static (span, s) =>
        {
            s.prefix.CopyTo(span);
            span = span[s.prefix.Length..];
            (s.Milliseconds & 0xFFFF_FFFF_FFFF).TryFormat(span[..12], out _, "x12", CultureInfo.InvariantCulture);
            s._nonce.TryFormat(span[12..20], out _, "x8", CultureInfo.InvariantCulture);
            (s.Counter & 0xFFFF_FFFF_FFFF).TryFormat(span[20..], out _, "x12", CultureInfo.InvariantCulture);
        });
    }
}
