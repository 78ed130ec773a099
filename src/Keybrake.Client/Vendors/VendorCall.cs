namespace Keybrake.Client;

/// <summary>
/// One guarded call as a vendor profile sees it. The guard fills in the request, the key's policy and the
/// buffered body; the profile fills in what it learns: the endpoint template, whether the call costs money
/// and how much, its idempotency key, the audit parameters and the objects to remember.
/// </summary>
public sealed class VendorCall
{
    private readonly IBudgetLedger _ledger;
    private readonly int _maxResponseBodyBytes;
    private Dictionary<string, string>? _parameters;
    private List<VendorObject>? _remember;
    private List<DeferredSettlement>? _deferred;
    private byte[]? _requestBuffer;
    private byte[]? _responseBuffer;
    private string? _lookedUp;
    private long _lookupMicroseconds;

    internal VendorCall(
        HttpRequestMessage request,
        string vendor,
        string method,
        IReadOnlyList<string> pathSegments,
        IBudgetLedger ledger,
        int maxResponseBodyBytes,
        bool recordsAuditParameters)
    {
        Request = request;
        Vendor = vendor;
        Method = method;
        PathSegments = pathSegments;
        _ledger = ledger;
        _maxResponseBodyBytes = maxResponseBodyBytes;
        RecordsAuditParameters = recordsAuditParameters;
    }

    /// <summary>The outgoing request.</summary>
    public HttpRequestMessage Request { get; }

    /// <summary>The vendor the call is for.</summary>
    public string Vendor { get; }

    /// <summary>The HTTP method in upper case.</summary>
    public string Method { get; }

    /// <summary>The decoded path segments, without empty ones: <c>/v1/charges/ch_1/capture</c> is four segments.</summary>
    public IReadOnlyList<string> PathSegments { get; }

    /// <summary>The request body; empty when there is none. Valid until the call completes: copy what must outlive it.</summary>
    public ReadOnlyMemory<byte> Body { get; private set; }

    /// <summary>The body's media type, such as <c>application/x-www-form-urlencoded</c>, or <see langword="null"/>.</summary>
    public string? MediaType { get; private set; }

    /// <summary>The key id (never the brake key or the secret).</summary>
    public string KeyId => Key?.Id ?? string.Empty;

    /// <summary>The run the call belongs to, if any.</summary>
    public string? RunId { get; internal init; }

    /// <summary>The key's per-request maximum, also the estimate for calls whose cost cannot be known in advance.</summary>
    public Usd? PerRequestMax => Key?.Policy.PerRequestMax;

    /// <summary>The endpoint with ids replaced by placeholders, such as <c>/v1/charges/{id}/capture</c>. Set by the profile.</summary>
    public string EndpointTemplate { get; set; } = string.Empty;

    /// <summary>Whether the call moves money and must reserve budget. Set by the profile.</summary>
    public bool IsCostBearing { get; set; }

    /// <summary>What the call is expected to cost; reserved before it is forwarded. Set by the profile.</summary>
    public Usd Estimate { get; set; }

    /// <summary>The idempotency key that makes a retry the same call. Set by the profile.</summary>
    public string? IdempotencyKey { get; set; }

    /// <summary>Anything the profile wants to keep between inspecting the request and the response.</summary>
    public object? VendorState { get; set; }

    internal ResolvedKey? Key { get; set; }

    /// <summary>The profile inspecting the call: it applies the secret to lookups.</summary>
    internal VendorProfile? Profile { get; init; }

    /// <summary>The inner handler the call goes to, and its lookups with it.</summary>
    internal Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>>? Next { get; init; }

    internal VendorLookupSender? Lookups { get; init; }

    internal TimeSpan LookupTimeout { get; init; } = KeybrakeOptions.DefaultLookupTimeout;

    internal int MaxResponseBodyBytes => _maxResponseBodyBytes;

    internal DateTimeOffset ReceivedAt { get; init; }

    internal string? ReservationId { get; set; }

    internal ReservationReuse Reuse { get; set; }

    /// <summary>Something the audit record of an allowed call must say, such as that it spent the emergency allowance.</summary>
    internal string? Note { get; set; }

    internal IReadOnlyDictionary<string, string>? Parameters => _parameters;

    internal IReadOnlyList<VendorObject>? ObjectsToRemember => _remember;

    internal IReadOnlyList<DeferredSettlement>? DeferredSettlements => _deferred;

    /// <summary>The allowlist of that name in the key's policy, or <see langword="null"/> when it sets none (any value allowed).</summary>
    public IReadOnlySet<string>? GetAllowlist(string name) => Key?.Policy.GetAllowlist(name);

    /// <summary>The limit of that name in the key's policy, or <see langword="null"/> when it sets none.</summary>
    public long? GetLimit(string name) => Key?.Policy.GetLimit(name);

    /// <summary>
    /// The key's real vendor secret and where it may go, for a profile that must ask the vendor itself before it can
    /// decide (a price list). The secret goes only in the credential of a request to the vendor's own host over https,
    /// or to <see cref="VendorCredential.StandIn"/> when the key names one; never into a log, an audit record or an
    /// exception. <see langword="null"/> before the key is known.
    /// </summary>
    public VendorCredential? GetVendorCredential() => Key is { } key ? new VendorCredential(key.VendorSecret, key.VendorEndpoint) : null;

    /// <summary>Whether anyone reads audit parameters; when not, <see cref="AddAuditParameter"/> does nothing and need not be called.</summary>
    public bool RecordsAuditParameters { get; }

    /// <summary>
    /// Records a parameter in the call's audit record. Record only values safe to keep (amounts, currencies,
    /// ids); record <see cref="RedactedValue"/> for anything else.
    /// </summary>
    public void AddAuditParameter(string name, string value)
    {
        if (!RecordsAuditParameters)
        {
            return;
        }

        _parameters ??= new Dictionary<string, string>(StringComparer.Ordinal);
        _parameters[name] = value;
    }

    /// <summary>What the audit record shows in place of a value that could be personal or secret.</summary>
    public const string RedactedValue = "[redacted]";

    /// <summary>Looks up an object created earlier through the guard by a call with this call's key (never another key's).</summary>
    public ValueTask<VendorObject?> FindObjectAsync(string objectId, CancellationToken cancellationToken) =>
        _ledger.FindObjectAsync(KeyId, Vendor, objectId, cancellationToken);

    /// <summary>What the key's policy does when an object the call refers to cannot be looked up.</summary>
    public UnknownObjectBehavior UnknownObjects => Key?.Policy.UnknownObjects ?? UnknownObjectBehavior.Deny;

    /// <summary>
    /// Looks an object up at the vendor before the decision, with a GET of <paramref name="pathAndQuery"/> on the
    /// host this call was approved for (never another), through the same inner handler, with the key's real
    /// secret and <see cref="KeybrakeOptions.LookupTimeout"/>. The lookup is part of this call: it is not
    /// counted by the rate limit or the loop breaker, its answer never reaches the SDK or a log, and this call's
    /// audit record names the object (<c>lookup</c>) and the time it took (<c>lookup_latency_us</c>).
    /// </summary>
    /// <param name="objectId">The vendor's id of the object, for the audit record and logs.</param>
    /// <param name="pathAndQuery">The path and query, starting with a single <c>/</c>, such as <c>/v1/charges/ch_1</c>.</param>
    /// <param name="headers">Headers the lookup must carry (an account header, an API version); never <c>Authorization</c>.</param>
    /// <param name="cancellationToken">The call's cancellation.</param>
    /// <returns>The answer, or why there is none; a timeout or connection failure is an answer, not an exception.</returns>
    public async ValueTask<VendorLookup> SendLookupAsync(
        string objectId,
        string pathAndQuery,
        IReadOnlyList<KeyValuePair<string, string>>? headers,
        CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(objectId);
        if (Lookups is null)
        {
            throw new InvalidOperationException("A lookup can be sent only while the guard inspects a call.");
        }

        var result = await Lookups.SendAsync(this, objectId, pathAndQuery, headers, cancellationToken).ConfigureAwait(false);
        RecordLookup(objectId, result.Latency);
        return result;
    }

    /// <summary>
    /// Records in the audit record that this call waited for a lookup of <paramref name="objectId"/> another call
    /// sent (a profile coalesces concurrent lookups of one object).
    /// </summary>
    public void RecordSharedLookup(string objectId, TimeSpan waited)
    {
        ArgumentException.ThrowIfNullOrEmpty(objectId);
        RecordLookup(objectId, waited);
        AddAuditParameter("lookup_shared", "true");
    }

    /// <summary>
    /// Remembers an object at once, as <see cref="Remember"/> does after the call: for an object just looked up,
    /// so that concurrent and later calls with this key find it instead of looking it up again.
    /// </summary>
    public ValueTask RememberNowAsync(VendorObject vendorObject, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(vendorObject);
        return _ledger.RememberObjectsAsync(KeyId, Vendor, [vendorObject], cancellationToken);
    }

    private void RecordLookup(string objectId, TimeSpan latency)
    {
        _lookedUp = _lookedUp is null ? objectId : $"{_lookedUp},{objectId}";
        _lookupMicroseconds += (long)latency.TotalMicroseconds;
        AddAuditParameter("lookup", _lookedUp);
        AddAuditParameter("lookup_latency_us", _lookupMicroseconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>Asks the guard to remember an object from the response once the call is settled.</summary>
    public void Remember(VendorObject vendorObject)
    {
        ArgumentNullException.ThrowIfNull(vendorObject);
        (_remember ??= []).Add(vendorObject);
    }

    /// <summary>
    /// Reports the real cost of an object whose call was settled with <see cref="VendorSettlement.Defer(string)"/>, as
    /// this response shows it. The guard settles that call's open reservation to <paramref name="actual"/>: in process
    /// when it holds it, otherwise (central mode) at the budget service, which settles the key's deferral of the object
    /// if it has one, once. An object with no open reservation (settled already, or never deferred) changes nothing.
    /// </summary>
    /// <param name="objectId">The vendor's id of the object.</param>
    /// <param name="actual">What it cost; <see langword="null"/> when the vendor says it cost nothing and the reservation is released.</param>
    public void SettleDeferred(string objectId, Usd? actual)
    {
        ArgumentException.ThrowIfNullOrEmpty(objectId);
        (_deferred ??= []).Add(new DeferredSettlement(objectId, actual));
    }

    /// <summary>
    /// Reads the response body for inspection, leaving it readable for the SDK. Returns <see langword="null"/>
    /// when the body is larger than <see cref="KeybrakeOptions.MaxResponseBodyBytes"/>; the SDK still reads
    /// the whole body either way (a body of unknown length may get new content that replays it). The memory is
    /// valid until the call completes.
    /// </summary>
    public async ValueTask<ReadOnlyMemory<byte>?> ReadResponseBodyAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(response);
        ContentBuffer.Return(_responseBuffer);
        var (rented, length, tooLarge) = await ContentBuffer.RentCopyAsync(response, _maxResponseBodyBytes, cancellationToken).ConfigureAwait(false);
        _responseBuffer = rented;
        ResponseBody = tooLarge ? default : new ReadOnlyMemory<byte>(rented, 0, length);
        ResponseBodyContent = tooLarge ? null : response.Content;
        return tooLarge ? null : ResponseBody;
    }

    /// <summary>Reads the request body; returns <see langword="false"/> when it is larger than allowed.</summary>
    internal async ValueTask<bool> TryLoadBodyAsync(HttpContent content, int maxBytes, CancellationToken cancellationToken)
    {
        var (rented, length, tooLarge) = await ContentBuffer.RentCopyAsync(content, maxBytes, cancellationToken).ConfigureAwait(false);
        _requestBuffer = rented;
        Body = new ReadOnlyMemory<byte>(rented, 0, length);
        MediaType = content.Headers.ContentType?.MediaType;
        return !tooLarge;
    }

    /// <summary>The content whose whole body <see cref="ResponseBody"/> holds, or <see langword="null"/> when none was read whole.</summary>
    internal HttpContent? ResponseBodyContent { get; private set; }

    /// <summary>The response body as the profile read it, valid until the call completes.</summary>
    internal ReadOnlyMemory<byte> ResponseBody { get; private set; }

    /// <summary>Gives the pooled body buffers back once the call is complete.</summary>
    internal void ReturnBuffers()
    {
        Body = ReadOnlyMemory<byte>.Empty;
        ResponseBody = ReadOnlyMemory<byte>.Empty;
        ResponseBodyContent = null;
        ContentBuffer.Return(_requestBuffer);
        ContentBuffer.Return(_responseBuffer);
        _requestBuffer = null;
        _responseBuffer = null;
    }
}
