using System.ComponentModel.DataAnnotations;

namespace Keybrake.BudgetService.Hosting;

/// <summary>The budget service's settings, bound from the <c>BudgetService</c> configuration section.</summary>
public sealed class BudgetServiceOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "BudgetService";

    /// <summary>The port the service listens on, on loopback, over HTTP/2 without TLS, unless Kestrel endpoints are configured.</summary>
    [Range(0, 65535)]
    public int Port { get; set; } = 7411;

    /// <summary>
    /// The port for the admin API's REST paths (HTTP/1.1, on loopback) unless Kestrel endpoints are configured;
    /// -1 turns it off. gRPC clients, the CLI included, use <see cref="Port"/>.
    /// </summary>
    [Range(-1, 65535)]
    public int RestPort { get; set; } = 7412;

    /// <summary>The value of <see cref="Store"/> for the embedded SQLite file (the default).</summary>
    public const string SqliteStore = "Sqlite";

    /// <summary>The value of <see cref="Store"/> for PostgreSQL, with the connection string in <c>ConnectionStrings:Keybrake</c>.</summary>
    public const string PostgreSqlStore = "PostgreSQL";

    /// <summary>
    /// The store engine: <c>Sqlite</c> (default: the file at <see cref="StoragePath"/>) or <c>PostgreSQL</c> (the
    /// database in <c>ConnectionStrings:Keybrake</c>, for several replicas). Read once, at start-up.
    /// </summary>
    public string Store { get; set; } = SqliteStore;

    /// <summary>The SQLite file, relative to the working directory. Created with its folder on first start.</summary>
    [Required]
    public string StoragePath { get; set; } = Path.Combine("data", "keybrake-budget.db");

    /// <summary>
    /// The token every admin call must carry as <c>Authorization: Bearer &lt;token&gt;</c>, at least 16 characters.
    /// When empty, the service generates one on first start into <c>admin-token</c> next to the SQLite file.
    /// </summary>
    public string? AdminToken { get; set; }

    /// <summary>How long finished reservations are kept so that a late retry with the same idempotency key still matches.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "30.00:00:00")]
    public TimeSpan IdempotencyRetention { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// The address the service listens on when no <c>--urls</c> or Kestrel endpoints are configured (default
    /// <c>127.0.0.1</c>). Any address that is not loopback needs <see cref="Tls"/>, or <see cref="AllowInsecureNetwork"/>.
    /// </summary>
    [Required]
    public string ListenAddress { get; set; } = "127.0.0.1";

    /// <summary>The certificate the service presents; with it, every endpoint it opens speaks TLS.</summary>
    public BudgetServiceTlsOptions Tls { get; } = new();

    /// <summary>
    /// Lets the service listen without TLS on an address that is not loopback. Off by default: start-up refuses
    /// such an endpoint. When on, start-up logs a warning for every such endpoint.
    /// </summary>
    public bool AllowInsecureNetwork { get; set; }

    /// <summary>
    /// How long a revocation, or a policy change, waits for every process on the key event stream to confirm
    /// it applied the change before the admin call returns anyway, naming the processes that did not (default 1 s).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan KeyEventAckTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The keys the service holds caps for, by key id (the same ids the clients use).</summary>
    public IDictionary<string, ServiceKeyOptions> Keys { get; } = new Dictionary<string, ServiceKeyOptions>(StringComparer.Ordinal);

    /// <summary>
    /// Client credentials declared by configuration, by client id: the SHA-256 of each token (never the token) and
    /// its scope. Imported on first start; the admin API issues and revokes the rest (<c>keybrake clients</c>).
    /// </summary>
    public IDictionary<string, ServiceClientOptions> Clients { get; } = new Dictionary<string, ServiceClientOptions>(StringComparer.Ordinal);
}

/// <summary>A client credential declared in configuration.</summary>
public sealed class ServiceClientOptions
{
    /// <summary>The SHA-256 of the token, as 64 hexadecimal digits (<c>printf %s "$TOKEN" | sha256sum</c>).</summary>
    public string TokenSha256 { get; set; } = string.Empty;

    /// <summary>The key ids the credential may act on; <c>*</c> for every key, present and future.</summary>
    public IList<string> Keys { get; } = [];
}

/// <summary>One key as the service sees it: its vendor and policy. The service enforces the caps; the rest of the policy is the clients'.</summary>
public sealed class ServiceKeyOptions
{
    /// <summary>The vendor the key is for, such as <c>stripe</c>.</summary>
    public string Vendor { get; set; } = string.Empty;

    /// <summary>The key's policy; the service enforces <c>DailyCap</c>, <c>TimeZone</c> and <c>RunCap</c>.</summary>
    public KeybrakePolicyOptions Policy { get; set; } = new();
}

/// <summary>The service's TLS certificate (<c>BudgetService:Tls</c>).</summary>
public sealed class BudgetServiceTlsOptions
{
    /// <summary>
    /// The certificate file: PEM (with its private key in <see cref="KeyPath"/>, or in the same file) or PKCS#12
    /// (<c>.pfx</c>/<c>.p12</c>, with <see cref="Password"/>). Empty: no TLS.
    /// </summary>
    public string? CertificatePath { get; set; }

    /// <summary>The PEM private key of a PEM certificate; empty when the certificate file holds it.</summary>
    public string? KeyPath { get; set; }

    /// <summary>The password of a PKCS#12 file, or of an encrypted PEM key. Never logged.</summary>
    public string? Password { get; set; }

    /// <summary>Whether a certificate is configured.</summary>
    internal bool Enabled => !string.IsNullOrWhiteSpace(CertificatePath);
}
