namespace Keybrake.Client.Central;

/// <summary>
/// The lease of one key (and run, or none) in this process: what the service granted, what calls decided here have
/// used, and until when it may be used. A slot outlives its leases: when one ends, the next request takes a new id.
/// Every field but the key and run is read and written under <see cref="Gate"/>, which makes each decision atomic.
/// </summary>
internal sealed class LeaseSlot(string keyId, string runId)
{
    public object Gate { get; } = new();

    public string KeyId { get; } = keyId;

    /// <summary>The run whose budget the lease is also of; empty for calls outside runs.</summary>
    public string RunId { get; } = runId;

    /// <summary>The lease in use; <see langword="null"/> while the slot holds none.</summary>
    public string? LeaseId { get; set; }

    /// <summary>The id the request under way asks with: the lease's own for a top-up, a new one otherwise.</summary>
    public string? AskingId { get; set; }

    public long GrantedMicros { get; set; }

    public long UsedMicros { get; set; }

    /// <summary>The last request's sequence number (one more for each top-up).</summary>
    public long Sequence { get; set; }

    /// <summary>The last grant: a top-up is asked for once what is left falls under half of it.</summary>
    public long LastGrantMicros { get; set; }

    /// <summary>When the lease stops being used, by the transport clock: the send time of its last grant + TTL - margin.</summary>
    public long ExpiresAt { get; set; }

    public TimeSpan Ttl { get; set; }

    /// <summary>When a call was last decided on the lease (or it was taken), by the transport clock.</summary>
    public long LastDecision { get; set; }

    /// <summary>Grows whenever the lease ends here, so that an answer to a request sent before is not applied to a later lease.</summary>
    public long Epoch { get; set; }

    /// <summary>The request for a lease or a top-up under way (one at a time).</summary>
    public Task? Asking { get; set; }

    /// <summary>No new request before this moment (the service said no, or could not be reached).</summary>
    public long QuietUntil { get; set; }

    /// <summary>Forgotten by the process (a run's slot with no lease): it takes no lease again.</summary>
    public bool Retired { get; set; }

    /// <summary>Idempotency keys of the calls decided on the current lease (forgotten with it).</summary>
    public List<string> Decided { get; } = [];

    public long RemainingMicros => LeaseId is null ? 0 : GrantedMicros - UsedMicros;
}
