using Microsoft.Data.Sqlite;

namespace Keybrake.BudgetService.Store.Sqlite;

/// <summary>The SQLite schema, as numbered migrations applied in order on start.</summary>
internal static class SqliteSchema
{
    private static readonly string[] s_migrations =
    [
        // 1: counters, reservations, revocations, vendor objects, audit records.
        """
        CREATE TABLE key_state (
            key_id TEXT PRIMARY KEY,
            revoked INTEGER NOT NULL DEFAULT 0,
            updated_at INTEGER NOT NULL
        ) WITHOUT ROWID;

        CREATE TABLE day_counter (
            key_id TEXT NOT NULL,
            day TEXT NOT NULL,
            settled INTEGER NOT NULL DEFAULT 0,
            reserved INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (key_id, day)
        ) WITHOUT ROWID;

        CREATE TABLE run_counter (
            key_id TEXT NOT NULL,
            run_id TEXT NOT NULL,
            settled INTEGER NOT NULL DEFAULT 0,
            reserved INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (key_id, run_id)
        ) WITHOUT ROWID;

        -- state: 0 pending, 1 committed, 2 released. Keyed by reservation id without a rowid, and no index
        -- beyond the idempotency key's: an Authorize writes two B-trees and a Settle one. Listing pending
        -- reservations and hourly pruning scan the table instead.
        CREATE TABLE reservation (
            reservation_id TEXT PRIMARY KEY,
            key_id TEXT NOT NULL,
            run_id TEXT,
            idempotency_key TEXT NOT NULL,
            request_hash BLOB NOT NULL,
            day TEXT NOT NULL,
            estimate INTEGER NOT NULL,
            state INTEGER NOT NULL,
            actual INTEGER,
            created_at INTEGER NOT NULL,
            finished_at INTEGER,
            UNIQUE (key_id, idempotency_key)
        ) WITHOUT ROWID;

        CREATE TABLE vendor_object (
            vendor TEXT NOT NULL,
            object_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            customer TEXT,
            account TEXT,
            currency TEXT,
            amount INTEGER NOT NULL,
            amount_returned INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (vendor, object_id)
        ) WITHOUT ROWID;

        CREATE TABLE audit_record (
            record_id TEXT PRIMARY KEY,
            received_at INTEGER NOT NULL,
            timestamp INTEGER NOT NULL,
            key_id TEXT NOT NULL,
            vendor TEXT NOT NULL,
            run_id TEXT,
            decision TEXT NOT NULL,
            reason TEXT,
            record TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX audit_by_run ON audit_record (run_id, timestamp);
        CREATE INDEX audit_by_key ON audit_record (key_id, timestamp);
        """,

        // 2: keys and their policies, held by the service (the admin API creates and changes them).
        """
        CREATE TABLE api_key (
            key_id TEXT PRIMARY KEY,
            vendor TEXT NOT NULL,
            policy BLOB NOT NULL,
            policy_version INTEGER NOT NULL,
            brake_key_sha256 BLOB,
            source TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX audit_by_time ON audit_record (timestamp);
        """,

        // 3: client credentials (only a hash of each token); the client that submitted each audit record; vendor
        // objects remembered per key, so that one key never sees (or plants) another's. Objects remembered before
        // this version belong to no key and are dropped: a later call that needs one treats it as unknown.
        """
        CREATE TABLE client_credential (
            client_id TEXT PRIMARY KEY,
            token_sha256 BLOB NOT NULL UNIQUE,
            key_ids TEXT NOT NULL,
            source TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            revoked_at INTEGER
        ) WITHOUT ROWID;
        ALTER TABLE audit_record ADD COLUMN client_id TEXT;
        DROP TABLE vendor_object;
        CREATE TABLE vendor_object (
            key_id TEXT NOT NULL,
            vendor TEXT NOT NULL,
            object_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            customer TEXT,
            account TEXT,
            currency TEXT,
            amount INTEGER NOT NULL,
            amount_returned INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (key_id, vendor, object_id)
        ) WITHOUT ROWID;
        """,
        // 4: the host each audited call was addressed to (empty for records written before it was known).
        """
        ALTER TABLE audit_record ADD COLUMN host TEXT;
        """,

        // 5: deferred objects (a Twilio message priced later) mapped to their reservation per key, so that a price seen
        // by any process of the key settles it, also after the sender restarted; and duties one process per key
        // performs (the price reconciliation), claimed for a time and renewed by their holder.
        """
        CREATE TABLE deferred_object (
            key_id TEXT NOT NULL,
            vendor TEXT NOT NULL,
            object_id TEXT NOT NULL,
            reservation_id TEXT NOT NULL,
            refetch TEXT NOT NULL,
            client_id TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (key_id, vendor, object_id)
        ) WITHOUT ROWID;
        CREATE TABLE duty_claim (
            key_id TEXT NOT NULL,
            duty TEXT NOT NULL,
            holder TEXT NOT NULL,
            expires_at INTEGER NOT NULL,
            PRIMARY KEY (key_id, duty)
        ) WITHOUT ROWID;
        """,
        // 6: how far settlements took a day's or a run's settled spend past the cap in force when they were committed
        // (a price above its estimate). Recorded at settle time, so a cap changed later does not invent or hide one.
        """
        ALTER TABLE day_counter ADD COLUMN overrun INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE run_counter ADD COLUMN overrun INTEGER NOT NULL DEFAULT 0;
        """,
        // 7: the vault. Each key's vendor secret sealed by the master key (AES-256-GCM; the id of the master key that
        // sealed it beside it), the current one (valid_until NULL) and at most the previous one, kept until the end of
        // its rotation's overlap window. The key's row carries its current version, so every read of a key has it.
        """
        CREATE TABLE key_secret (
            key_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            master_key_id TEXT NOT NULL,
            sealed BLOB NOT NULL,
            set_at INTEGER NOT NULL,
            valid_until INTEGER,
            PRIMARY KEY (key_id, version)
        ) WITHOUT ROWID;
        ALTER TABLE api_key ADD COLUMN secret_version INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE api_key ADD COLUMN secret_set_at INTEGER;
        ALTER TABLE api_key ADD COLUMN previous_secret_valid_until INTEGER;
        """,

        // 8: budget alerts, fired once each (the dedupe key is unique: the insert that wins fires it), and their
        // deliveries to each webhook (an outbox the sender works through, retrying with backoff).
        """
        CREATE TABLE alert (
            alert_id TEXT PRIMARY KEY,
            dedupe_key TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            key_id TEXT NOT NULL,
            scope TEXT,
            alert_window TEXT,
            threshold_percent INTEGER,
            message TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX alert_by_time ON alert (created_at);
        -- state: 0 pending, 1 delivered, 2 failed (given up).
        CREATE TABLE alert_delivery (
            alert_id TEXT NOT NULL,
            webhook TEXT NOT NULL,
            state INTEGER NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER NOT NULL,
            claimed_until INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            delivered_at INTEGER,
            PRIMARY KEY (alert_id, webhook)
        ) WITHOUT ROWID;
        CREATE INDEX alert_delivery_due ON alert_delivery (next_attempt_at) WHERE state = 0;
        """,

        // 9: budget leases. A lease's outstanding amount (granted - used, while active) is counted in the counters'
        // reserved, and also in their leased so that spend can show it apart; a leased call moves its estimate from the
        // lease to a reservation that names the lease. state: 0 active, 1 returned, 2 expired, 3 voided. holder_gone_at: when the
        // holder's key event stream ended (the lease is stranded while active), cleared when the holder tops it up again.
        """
        CREATE TABLE lease (
            lease_id TEXT PRIMARY KEY,
            key_id TEXT NOT NULL,
            run_id TEXT,
            day TEXT NOT NULL,
            client_id TEXT NOT NULL,
            holder TEXT NOT NULL,
            holder_name TEXT NOT NULL,
            sequence INTEGER NOT NULL,
            granted INTEGER NOT NULL,
            last_granted INTEGER NOT NULL,
            used INTEGER NOT NULL DEFAULT 0,
            state INTEGER NOT NULL,
            granted_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            ended_at INTEGER,
            holder_gone_at INTEGER
        ) WITHOUT ROWID;
        CREATE INDEX lease_by_key ON lease (key_id, state);
        CREATE INDEX lease_active_expiry ON lease (expires_at) WHERE state = 0;
        CREATE INDEX lease_by_holder ON lease (holder) WHERE state = 0;
        ALTER TABLE reservation ADD COLUMN lease_id TEXT;
        ALTER TABLE day_counter ADD COLUMN leased INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE run_counter ADD COLUMN leased INTEGER NOT NULL DEFAULT 0;
        """,

        // 10: LLM spend reported by LiteLLM's spend logs, once per log id, and each run's total of it (run_id '' for
        // logs that name no run); credentials that may post to intake integrations.
        """
        CREATE TABLE llm_spend (
            log_id TEXT PRIMARY KEY,
            run_id TEXT NOT NULL,
            cost INTEGER NOT NULL,
            model TEXT NOT NULL,
            provider TEXT NOT NULL,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            status TEXT NOT NULL,
            started_at INTEGER NOT NULL,
            received_at INTEGER NOT NULL,
            client_id TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX llm_spend_by_run ON llm_spend (run_id, started_at);
        CREATE TABLE llm_run_total (
            run_id TEXT PRIMARY KEY,
            cost INTEGER NOT NULL,
            calls INTEGER NOT NULL,
            first_at INTEGER NOT NULL,
            last_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        ALTER TABLE client_credential ADD COLUMN integrations TEXT NOT NULL DEFAULT '';
        """,
    ];

    /// <summary>Applies the migrations the file has not seen, each in its own transaction.</summary>
    public static void Migrate(SqliteConnection connection)
    {
        Execute(connection, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
        using var read = connection.CreateCommand();
        read.CommandText = "SELECT COALESCE(MAX(version), 0) FROM schema_version";
        var current = Convert.ToInt32(read.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        if (current > s_migrations.Length)
        {
            throw new InvalidOperationException(
                $"The budget database is at schema version {current}, newer than this service knows ({s_migrations.Length}). Run a newer service.");
        }

        for (var version = current + 1; version <= s_migrations.Length; version++)
        {
            using var transaction = connection.BeginTransaction();
            Execute(connection, s_migrations[version - 1], transaction);
            Execute(connection, $"INSERT INTO schema_version (version) VALUES ({version})", transaction);
            transaction.Commit();
        }
    }

    public static int Version => s_migrations.Length;

    /// <summary>
    /// Fails now, rather than on the first call, when the file can be read but not written (a read-only file or
    /// file system: SQLite then opens it read-only without a word). The write is rolled back.
    /// </summary>
    public static void ProbeWrite(SqliteConnection connection)
    {
        using var transaction = connection.BeginTransaction();
        Execute(connection, "DELETE FROM schema_version WHERE version < 0", transaction);
        transaction.Rollback();
    }

    private static void Execute(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
