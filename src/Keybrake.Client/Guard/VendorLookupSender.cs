using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Keybrake.Client;

/// <summary>
/// Sends the lookups a vendor profile makes while it inspects a request (<see cref="VendorCall.SendLookupAsync"/>):
/// a GET to the host the call itself was approved for, through the same inner handler, with the real secret and a
/// short timeout. It is not a guarded call of its own: no rate limit, loop breaker, reservation or audit record;
/// the call it serves records it.
/// </summary>
internal sealed class VendorLookupSender
{
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public VendorLookupSender(TimeProvider time, ILogger logger)
    {
        _time = time;
        _logger = logger;
    }

    public async ValueTask<VendorLookup> SendAsync(
        VendorCall call,
        string objectId,
        string pathAndQuery,
        IReadOnlyList<KeyValuePair<string, string>>? headers,
        CancellationToken cancellationToken)
    {
        var key = call.Key;
        var profile = call.Profile;
        var next = call.Next;
        if (key is null || profile is null || next is null)
        {
            throw new InvalidOperationException("A lookup can be sent only while the guard inspects a call whose key is known.");
        }

        var target = TargetOf(call.Request.RequestUri, pathAndQuery);

        // The call's own host passed this check already; asking again keeps the rule in one place.
        if (VendorEndpoints.Check(profile, key, target) is { } denial)
        {
            throw new ArgumentException($"The lookup cannot be sent: {denial.Message}.", nameof(pathAndQuery));
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, target)
        {
            Version = call.Request.Version,
            VersionPolicy = call.Request.VersionPolicy,
        };
        if (headers is not null)
        {
            foreach (var (name, value) in headers)
            {
                if (string.Equals(name, "Authorization", StringComparison.OrdinalIgnoreCase))
                {
                    throw new ArgumentException("A lookup's credential is the key's secret, which the guard applies; pass no Authorization header.", nameof(headers));
                }

                request.Headers.TryAddWithoutValidation(name, value);
            }
        }

        profile.ApplyVendorSecret(request, key.VendorSecret);
        var started = _time.GetTimestamp();
        using var timeout = new CancellationTokenSource(call.LookupTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        VendorLookup result;
        try
        {
            using var response = await next(request, linked.Token).ConfigureAwait(false);
            var (rented, length, tooLarge) = await ContentBuffer.RentCopyAsync(response, call.MaxResponseBodyBytes, linked.Token).ConfigureAwait(false);
            try
            {
                // Copied: the answer outlives this method, and lookups are rare enough not to pool.
                var body = tooLarge || rented is null ? ReadOnlyMemory<byte>.Empty : rented.AsSpan(0, length).ToArray();
                var failure = tooLarge ? $"the answer is larger than the {call.MaxResponseBodyBytes} bytes the guard reads" : null;
                result = new VendorLookup((int)response.StatusCode, body, failure, _time.GetElapsedTime(started));
            }
            finally
            {
                ContentBuffer.Return(rented);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            result = new VendorLookup(0, ReadOnlyMemory<byte>.Empty, $"timed out after {Seconds(call.LookupTimeout)}", _time.GetElapsedTime(started));
        }
        catch (Exception exception)
        {
            // Only the exception's type: a message could quote the request, and the request carries the secret.
            result = new VendorLookup(0, ReadOnlyMemory<byte>.Empty, $"no answer ({exception.GetType().Name})", _time.GetElapsedTime(started));
        }

        var latency = (long)result.Latency.TotalMicroseconds;
        if (result.IsSuccess)
        {
            Log.LookedUp(_logger, objectId, call.Vendor, key.Id, result.StatusCode, latency);
        }
        else
        {
            Log.LookupFailed(_logger, objectId, call.Vendor, key.Id, result.Failure ?? $"status {result.StatusCode}");
        }

        return result;
    }

    /// <summary>The lookup's address: the path on the call's own scheme, host and port, never another.</summary>
    private static Uri TargetOf(Uri? origin, string pathAndQuery)
    {
        ArgumentException.ThrowIfNullOrEmpty(pathAndQuery);
        if (origin is not { IsAbsoluteUri: true })
        {
            throw new InvalidOperationException("The call has no absolute address to send a lookup to.");
        }

        // "//host/..." and "\\host" would name another host; anything else starting with one '/' is a path.
        if (pathAndQuery[0] != '/' || (pathAndQuery.Length > 1 && pathAndQuery[1] is '/' or '\\') || pathAndQuery.Contains('#', StringComparison.Ordinal))
        {
            throw new ArgumentException("A lookup names a path (and query) on the call's own host, starting with a single '/'.", nameof(pathAndQuery));
        }

        var target = new Uri(origin, pathAndQuery);
        if (Uri.Compare(target, origin, UriComponents.SchemeAndServer | UriComponents.UserInfo, UriFormat.UriEscaped, StringComparison.OrdinalIgnoreCase) != 0)
        {
            throw new ArgumentException("A lookup goes to the call's own host only.", nameof(pathAndQuery));
        }

        return target;
    }

    private static string Seconds(TimeSpan value) =>
        value.TotalSeconds >= 1 && value.Milliseconds == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{value.TotalSeconds:0} s")
            : string.Create(CultureInfo.InvariantCulture, $"{value.TotalMilliseconds:0} ms");
}
