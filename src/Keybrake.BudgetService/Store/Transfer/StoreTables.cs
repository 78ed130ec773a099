namespace Keybrake.BudgetService.Store.Transfer;

/// <summary>How a column's values travel between engines: SQLite and PostgreSQL store each kind in their own type.</summary>
internal enum ColumnKind
{
    /// <summary>text on both.</summary>
    Text,

    /// <summary>INTEGER on SQLite, bigint or smallint on PostgreSQL.</summary>
    Integer,

    /// <summary>BLOB on SQLite, bytea on PostgreSQL; base64 in a dump.</summary>
    Blob,

    /// <summary>INTEGER 0/1 on SQLite, boolean on PostgreSQL.</summary>
    Boolean,
}

/// <summary>One column of a table both engines hold.</summary>
internal sealed record StoreColumn(string Name, ColumnKind Kind);

/// <summary>One table both engines hold, with the columns a dump carries, and what an operator calls its rows.</summary>
internal sealed record StoreTable(string Name, string Label, IReadOnlyList<StoreColumn> Columns);

/// <summary>
/// Every table of the store at the schema both engines reach today (SQLite 10, PostgreSQL 7): what an export carries
/// and an import writes. A migration that adds a table or a column adds it here, or the move leaves it behind.
/// </summary>
internal static class StoreTables
{
    public static IReadOnlyList<StoreTable> All { get; } =
    [
        Table("api_key", "keys", ("key_id", ColumnKind.Text), ("vendor", ColumnKind.Text), ("policy", ColumnKind.Blob), ("policy_version", ColumnKind.Integer),
            ("brake_key_sha256", ColumnKind.Blob), ("source", ColumnKind.Text), ("created_at", ColumnKind.Integer), ("updated_at", ColumnKind.Integer),
            ("secret_version", ColumnKind.Integer), ("secret_set_at", ColumnKind.Integer), ("previous_secret_valid_until", ColumnKind.Integer)),
        // Sealed bytes travel as they are: the imported store opens only under the master key that sealed them.
        Table("key_secret", "vendor secrets (sealed)", ("key_id", ColumnKind.Text), ("version", ColumnKind.Integer), ("master_key_id", ColumnKind.Text),
            ("sealed", ColumnKind.Blob), ("set_at", ColumnKind.Integer), ("valid_until", ColumnKind.Integer)),
        Table("key_state", "revocation states", ("key_id", ColumnKind.Text), ("revoked", ColumnKind.Boolean), ("updated_at", ColumnKind.Integer)),
        Table("client_credential", "client credentials", ("client_id", ColumnKind.Text), ("token_sha256", ColumnKind.Blob), ("key_ids", ColumnKind.Text),
            ("source", ColumnKind.Text), ("created_at", ColumnKind.Integer), ("revoked_at", ColumnKind.Integer), ("integrations", ColumnKind.Text)),
        Table("day_counter", "day counters", ("key_id", ColumnKind.Text), ("day", ColumnKind.Text), ("settled", ColumnKind.Integer), ("reserved", ColumnKind.Integer),
            ("overrun", ColumnKind.Integer), ("leased", ColumnKind.Integer)),
        Table("run_counter", "run counters", ("key_id", ColumnKind.Text), ("run_id", ColumnKind.Text), ("settled", ColumnKind.Integer), ("reserved", ColumnKind.Integer),
            ("overrun", ColumnKind.Integer), ("leased", ColumnKind.Integer)),
        Table("reservation", "reservations", ("reservation_id", ColumnKind.Text), ("key_id", ColumnKind.Text), ("run_id", ColumnKind.Text),
            ("idempotency_key", ColumnKind.Text), ("request_hash", ColumnKind.Blob), ("day", ColumnKind.Text), ("estimate", ColumnKind.Integer),
            ("state", ColumnKind.Integer), ("actual", ColumnKind.Integer), ("created_at", ColumnKind.Integer), ("finished_at", ColumnKind.Integer),
            ("lease_id", ColumnKind.Text)),
        Table("lease", "budget leases", ("lease_id", ColumnKind.Text), ("key_id", ColumnKind.Text), ("run_id", ColumnKind.Text), ("day", ColumnKind.Text),
            ("client_id", ColumnKind.Text), ("holder", ColumnKind.Text), ("holder_name", ColumnKind.Text), ("sequence", ColumnKind.Integer),
            ("granted", ColumnKind.Integer), ("last_granted", ColumnKind.Integer), ("used", ColumnKind.Integer), ("state", ColumnKind.Integer),
            ("granted_at", ColumnKind.Integer), ("expires_at", ColumnKind.Integer), ("ended_at", ColumnKind.Integer),
            ("holder_gone_at", ColumnKind.Integer)),
        Table("llm_spend", "LLM spend logs", ("log_id", ColumnKind.Text), ("run_id", ColumnKind.Text), ("cost", ColumnKind.Integer), ("model", ColumnKind.Text),
            ("provider", ColumnKind.Text), ("prompt_tokens", ColumnKind.Integer), ("completion_tokens", ColumnKind.Integer), ("status", ColumnKind.Text),
            ("started_at", ColumnKind.Integer), ("received_at", ColumnKind.Integer), ("client_id", ColumnKind.Text)),
        Table("llm_run_total", "LLM run totals", ("run_id", ColumnKind.Text), ("cost", ColumnKind.Integer), ("calls", ColumnKind.Integer),
            ("first_at", ColumnKind.Integer), ("last_at", ColumnKind.Integer)),
        Table("deferred_object", "deferred objects", ("key_id", ColumnKind.Text), ("vendor", ColumnKind.Text), ("object_id", ColumnKind.Text),
            ("reservation_id", ColumnKind.Text), ("refetch", ColumnKind.Text), ("client_id", ColumnKind.Text), ("created_at", ColumnKind.Integer)),
        Table("duty_claim", "duty claims", ("key_id", ColumnKind.Text), ("duty", ColumnKind.Text), ("holder", ColumnKind.Text), ("expires_at", ColumnKind.Integer)),
        Table("alert", "alerts", ("alert_id", ColumnKind.Text), ("dedupe_key", ColumnKind.Text), ("type", ColumnKind.Text), ("key_id", ColumnKind.Text),
            ("scope", ColumnKind.Text), ("alert_window", ColumnKind.Text), ("threshold_percent", ColumnKind.Integer), ("message", ColumnKind.Text),
            ("payload", ColumnKind.Text), ("created_at", ColumnKind.Integer)),
        Table("alert_delivery", "alert deliveries", ("alert_id", ColumnKind.Text), ("webhook", ColumnKind.Text), ("state", ColumnKind.Integer),
            ("attempts", ColumnKind.Integer), ("next_attempt_at", ColumnKind.Integer), ("claimed_until", ColumnKind.Integer), ("last_error", ColumnKind.Text),
            ("delivered_at", ColumnKind.Integer)),
        Table("vendor_object", "vendor objects", ("key_id", ColumnKind.Text), ("vendor", ColumnKind.Text), ("object_id", ColumnKind.Text), ("kind", ColumnKind.Text),
            ("customer", ColumnKind.Text), ("account", ColumnKind.Text), ("currency", ColumnKind.Text), ("amount", ColumnKind.Integer),
            ("amount_returned", ColumnKind.Integer), ("updated_at", ColumnKind.Integer)),
        Table("audit_record", "audit records", ("record_id", ColumnKind.Text), ("received_at", ColumnKind.Integer), ("timestamp", ColumnKind.Integer),
            ("key_id", ColumnKind.Text), ("vendor", ColumnKind.Text), ("run_id", ColumnKind.Text), ("decision", ColumnKind.Text), ("reason", ColumnKind.Text),
            ("record", ColumnKind.Text), ("client_id", ColumnKind.Text), ("host", ColumnKind.Text)),
    ];

    public static StoreTable? Find(string name) => All.FirstOrDefault(table => table.Name == name);

    /// <summary>The column list for SQL, quoted (<c>timestamp</c> is a keyword on PostgreSQL).</summary>
    public static string ColumnList(StoreTable table) => string.Join(", ", table.Columns.Select(column => $"\"{column.Name}\""));

    private static StoreTable Table(string name, string label, params (string Name, ColumnKind Kind)[] columns) =>
        new(name, label, [.. columns.Select(column => new StoreColumn(column.Name, column.Kind))]);
}
