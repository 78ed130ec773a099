using System.ComponentModel.DataAnnotations;

namespace Keybrake.Client.Central;

/// <summary>How the guard talks to the central budget service (<c>Keybrake:BudgetService</c>).</summary>
public sealed class KeybrakeBudgetServiceOptions
{
    /// <summary>
    /// The service's address, such as <c>http://127.0.0.1:7411</c>, or <c>https://budget.internal:7411</c> when it
    /// listens with TLS (its certificate is verified; see <see cref="CaCertificatePath"/>). Empty for embedded mode.
    /// </summary>
    public Uri? Address { get; set; }

    /// <summary>
    /// Several replicas of the service, such as <c>https://budget-a.internal:7411</c> and <c>https://budget-b.internal:7411</c>
    /// (<c>Keybrake:BudgetService:Addresses:0</c>, <c>:1</c>, ...), in place of <see cref="Address"/>. Calls are spread
    /// over the replicas that are connected; a call that fails on one (it is down, or cannot reach its database) is
    /// retried on another within <see cref="TotalTimeout"/>, with the same idempotency key, so it is never counted
    /// twice. All entries use one scheme. For one DNS name with a record per replica, set <see cref="Address"/> to
    /// <c>dns:///budget.internal:7411</c> instead (always TLS).
    /// </summary>
    public IList<Uri> Addresses { get; } = new List<Uri>();

    /// <summary>
    /// The host name the service's TLS certificate must carry, when it is not the name in the address (the
    /// <see cref="Addresses"/> are IP addresses, say, and every replica presents a certificate for
    /// <c>budget.internal</c>). Sent as the TLS server name and checked against the certificate like any host name.
    /// Empty (the default): each address's own host name (for <c>dns:///</c>, the DNS name) is checked.
    /// </summary>
    public string? TlsHostName { get; set; }

    /// <summary>
    /// The deadline of each attempt of a call to the service (default 2 s). Generous on purpose: a process's first
    /// calls also open the connection and compile the client's code, and on a busy machine that takes a while.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:00:30")]
    public TimeSpan CallTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The most one call may take, retries included, before it fails (default 5 s): the short total budget.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan TotalTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How many times a call that failed with <c>Unavailable</c> or <c>DeadlineExceeded</c> is retried (default 2),
    /// with jittered backoff. Only calls that are idempotent are retried; all of the guard's are.
    /// </summary>
    [Range(0, 5)]
    public int MaxRetries { get; set; } = 2;

    /// <summary>How long a key's revocation status is trusted for calls that cost nothing (default 1 s). Money calls check it in Authorize.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan KeyStatusCacheDuration { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long the process trusts its copy of revocations and policies after the service's key event stream
    /// last spoke (it speaks every second). Past it, calls that cost nothing ask the service, or fail closed per
    /// the policy's <c>ReadsDuringOutage</c>. Calls that cost money check revocation in Authorize regardless.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan RevocationStaleness { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// An opt-in allowance this process may spend on its own while the service cannot be reached, across all
    /// keys, for its lifetime. Empty (the default): calls that cost money fail closed with <c>budget_service_unavailable</c>.
    /// Every call it allows is audited as such.
    /// </summary>
    public Usd? EmergencyAllowance { get; set; }

    /// <summary>
    /// Where the durable outbox audit records wait in until the service has them (SQLite; default
    /// <c>data/keybrake-audit-outbox.db</c> under the working directory). Each process writes its own file beside
    /// this path (<c>data/keybrake-audit-outbox.p&lt;pid&gt;-&lt;random&gt;.db</c>), so processes may share the setting
    /// without waiting on each other; any of them ships what a stopped one left, and a file at this exact path
    /// (from an earlier release) is shipped too.
    /// </summary>
    [Required]
    public string OutboxPath { get; set; } = Path.Combine("data", "keybrake-audit-outbox.db");

    /// <summary>
    /// The client credential (<c>kbc_...</c>, from <c>keybrake clients create</c>) the guard presents on every call to
    /// the service, which acts only on the keys it is scoped to. Central mode needs this or <see cref="ClientTokenFile"/>.
    /// Never logged.
    /// </summary>
    public string? ClientToken { get; set; }

    /// <summary>A file holding the client credential, read once at start-up; the alternative to <see cref="ClientToken"/>.</summary>
    public string? ClientTokenFile { get; set; }

    /// <summary>The admin token <see cref="IKeybrakeAdmin"/> presents to the service, when it requires one.</summary>
    public string? AdminToken { get; set; }

    /// <summary>
    /// A private certificate authority for an <c>https://</c> <see cref="Address"/>: a PEM (or DER) file of the CA
    /// certificate(s) the service's certificate must chain to, in place of the system's trusted roots. The chain,
    /// its validity and the host name are still checked. Empty (the default): the system's roots.
    /// </summary>
    public string? CaCertificatePath { get; set; }

    /// <summary>
    /// How this process is named to the operator when it has not confirmed a revocation (at most 200 characters;
    /// default <c>host/pid/app</c>, such as <c>web-3/4121/Billing.Agent</c>). A pod or instance name helps.
    /// </summary>
    [MaxLength(200)]
    public string? ProcessName { get; set; }

    /// <summary>Whether the guard uses the service.</summary>
    internal bool IsCentral => Address is not null || Addresses.Count > 0;
}
