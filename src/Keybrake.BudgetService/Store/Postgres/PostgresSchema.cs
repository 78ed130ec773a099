using System.Globalization;
using Npgsql;

namespace Keybrake.BudgetService.Store.Postgres;

/// <summary>
/// The PostgreSQL schema, as numbered migrations of its own (independent of SQLite's numbers), applied on start in
/// one transaction under a transaction-scoped advisory lock: replicas starting together take turns, and the second
/// finds the work done.
/// </summary>
internal static class PostgresSchema
{
    /// <summary>The advisory lock key of the migration step (any constant the service's database uses for nothing else).</summary>
    private const long MigrationLock = 0x4B65796272616B65; // "Keybrake"

    private static readonly string[] s_migrations =
    [
        // 1: the shape SQLite's migrations 1 to 4 reach: counters, reservations, revocations, vendor objects per key,
        // audit records with their client and host, keys and policies, client credentials.
        """
        CREATE TABLE key_state (
            key_id text PRIMARY KEY,
            revoked boolean NOT NULL DEFAULT false,
            updated_at bigint NOT NULL
        );

        CREATE TABLE day_counter (
            key_id text NOT NULL,
            day text NOT NULL,
            settled bigint NOT NULL DEFAULT 0,
            reserved bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (key_id, day)
        );

        CREATE TABLE run_counter (
            key_id text NOT NULL,
            run_id text NOT NULL,
            settled bigint NOT NULL DEFAULT 0,
            reserved bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (key_id, run_id)
        );

        -- state: 0 pending, 1 committed, 2 released, 3 held for an operator (actual = the amount claimed).
        CREATE TABLE reservation (
            reservation_id text PRIMARY KEY,
            key_id text NOT NULL,
            run_id text,
            idempotency_key text NOT NULL,
            request_hash bytea NOT NULL,
            day text NOT NULL,
            estimate bigint NOT NULL,
            state smallint NOT NULL,
            actual bigint,
            created_at bigint NOT NULL,
            finished_at bigint,
            UNIQUE (key_id, idempotency_key)
        );
        -- What an operator lists (pending and held), without scanning what is finished.
        CREATE INDEX reservation_unfinished ON reservation (created_at) WHERE state IN (0, 3);

        CREATE TABLE vendor_object (
            key_id text NOT NULL,
            vendor text NOT NULL,
            object_id text NOT NULL,
            kind text NOT NULL,
            customer text,
            account text,
            currency text,
            amount bigint NOT NULL,
            amount_returned bigint NOT NULL,
            updated_at bigint NOT NULL,
            PRIMARY KEY (key_id, vendor, object_id)
        );

        CREATE TABLE audit_record (
            record_id text PRIMARY KEY,
            received_at bigint NOT NULL,
            timestamp bigint NOT NULL,
            key_id text NOT NULL,
            vendor text NOT NULL,
            run_id text,
            decision text NOT NULL,
            reason text,
            record text NOT NULL,
            client_id text,
            host text
        );
        CREATE INDEX audit_by_run ON audit_record (run_id, timestamp);
        CREATE INDEX audit_by_key ON audit_record (key_id, timestamp);
        CREATE INDEX audit_by_time ON audit_record (timestamp);

        CREATE TABLE api_key (
            key_id text PRIMARY KEY,
            vendor text NOT NULL,
            policy bytea NOT NULL,
            policy_version bigint NOT NULL,
            brake_key_sha256 bytea,
            source text NOT NULL,
            created_at bigint NOT NULL,
            updated_at bigint NOT NULL
        );

        CREATE TABLE client_credential (
            client_id text PRIMARY KEY,
            token_sha256 bytea NOT NULL UNIQUE,
            key_ids text NOT NULL,
            source text NOT NULL,
            created_at bigint NOT NULL,
            revoked_at bigint
        );
        """,

        // 2: what SQLite's migrations 5 and 6 add. Deferred objects (a Twilio message priced later) mapped to their
        // reservation per key, so that a price any replica sees settles it; duties one process per key performs,
        // claimed for a time; and how far settlements took a day's or a run's settled spend past the cap in force
        // when they were committed (recorded then, so a cap changed later does not invent or hide one).
        """
        CREATE TABLE deferred_object (
            key_id text NOT NULL,
            vendor text NOT NULL,
            object_id text NOT NULL,
            reservation_id text NOT NULL,
            refetch text NOT NULL,
            client_id text NOT NULL,
            created_at bigint NOT NULL,
            PRIMARY KEY (key_id, vendor, object_id)
        );
        -- Pruning finds the deferrals of forgotten reservations without a scan.
        CREATE INDEX deferred_by_reservation ON deferred_object (reservation_id);

        CREATE TABLE duty_claim (
            key_id text NOT NULL,
            duty text NOT NULL,
            holder text NOT NULL,
            expires_at bigint NOT NULL,
            PRIMARY KEY (key_id, duty)
        );

        ALTER TABLE day_counter ADD COLUMN overrun bigint NOT NULL DEFAULT 0;
        ALTER TABLE run_counter ADD COLUMN overrun bigint NOT NULL DEFAULT 0;
        """,

        // 3: every key has a state row from its creation on (revocation itself is serialized by KeyLock, which needs
        // no row): keys stored before this version get theirs here.
        """
        INSERT INTO key_state (key_id, revoked, updated_at)
        SELECT key_id, false, updated_at FROM api_key
        ON CONFLICT (key_id) DO NOTHING;
        """,

        // 4: the vault, as SQLite's migration 7: each key's vendor secret sealed by the master key, the current one
        // (valid_until NULL) and at most the previous one until its overlap window closes; the key's row carries the
        // current version, so a replica reading a key back has it.
        """
        CREATE TABLE key_secret (
            key_id text NOT NULL,
            version bigint NOT NULL,
            master_key_id text NOT NULL,
            sealed bytea NOT NULL,
            set_at bigint NOT NULL,
            valid_until bigint,
            PRIMARY KEY (key_id, version)
        );
        ALTER TABLE api_key ADD COLUMN secret_version bigint NOT NULL DEFAULT 0;
        ALTER TABLE api_key ADD COLUMN secret_set_at bigint;
        ALTER TABLE api_key ADD COLUMN previous_secret_valid_until bigint;
        """,

        // 5: budget alerts, fired once each across replicas (the dedupe key is unique: the insert that wins fires it),
        // and their deliveries to each webhook (an outbox; a replica claims a delivery for a time before sending it).
        """
        CREATE TABLE alert (
            alert_id text PRIMARY KEY,
            dedupe_key text NOT NULL UNIQUE,
            type text NOT NULL,
            key_id text NOT NULL,
            scope text,
            alert_window text,
            threshold_percent bigint,
            message text NOT NULL,
            payload text NOT NULL,
            created_at bigint NOT NULL
        );
        CREATE INDEX alert_by_time ON alert (created_at);
        -- state: 0 pending, 1 delivered, 2 failed (given up).
        CREATE TABLE alert_delivery (
            alert_id text NOT NULL,
            webhook text NOT NULL,
            state smallint NOT NULL,
            attempts bigint NOT NULL DEFAULT 0,
            next_attempt_at bigint NOT NULL,
            claimed_until bigint NOT NULL DEFAULT 0,
            last_error text,
            delivered_at bigint,
            PRIMARY KEY (alert_id, webhook)
        );
        CREATE INDEX alert_delivery_due ON alert_delivery (next_attempt_at) WHERE state = 0;
        """,

        // 6: budget leases (as SQLite's migration 9).
        """
        CREATE TABLE lease (
            lease_id text PRIMARY KEY,
            key_id text NOT NULL,
            run_id text,
            day text NOT NULL,
            client_id text NOT NULL,
            holder text NOT NULL,
            holder_name text NOT NULL,
            sequence bigint NOT NULL,
            granted bigint NOT NULL,
            last_granted bigint NOT NULL,
            used bigint NOT NULL DEFAULT 0,
            state smallint NOT NULL,
            granted_at bigint NOT NULL,
            expires_at bigint NOT NULL,
            ended_at bigint,
            holder_gone_at bigint
        );
        CREATE INDEX lease_by_key ON lease (key_id, state);
        CREATE INDEX lease_active_expiry ON lease (expires_at) WHERE state = 0;
        CREATE INDEX lease_by_holder ON lease (holder) WHERE state = 0;
        ALTER TABLE reservation ADD COLUMN lease_id text;
        ALTER TABLE day_counter ADD COLUMN leased bigint NOT NULL DEFAULT 0;
        ALTER TABLE run_counter ADD COLUMN leased bigint NOT NULL DEFAULT 0;
        """,

        // 7: LLM spend and intake credentials (as SQLite's migration 10).
        """
        CREATE TABLE llm_spend (
            log_id text PRIMARY KEY,
            run_id text NOT NULL,
            cost bigint NOT NULL,
            model text NOT NULL,
            provider text NOT NULL,
            prompt_tokens bigint,
            completion_tokens bigint,
            status text NOT NULL,
            started_at bigint NOT NULL,
            received_at bigint NOT NULL,
            client_id text NOT NULL
        );
        CREATE INDEX llm_spend_by_run ON llm_spend (run_id, started_at);
        CREATE TABLE llm_run_total (
            run_id text PRIMARY KEY,
            cost bigint NOT NULL,
            calls bigint NOT NULL,
            first_at bigint NOT NULL,
            last_at bigint NOT NULL
        );
        ALTER TABLE client_credential ADD COLUMN integrations text NOT NULL DEFAULT '';
        """,
    ];

    public static int Version => s_migrations.Length;

    /// <summary>
    /// Applies the migrations the database has not seen and returns the version it was at. Refuses a database at a
    /// version newer than this code (a newer service migrated it) with <see cref="NewerSchemaException"/>.
    /// </summary>
    public static async Task<int> MigrateAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await ExecuteAsync(connection, transaction, $"SELECT pg_advisory_xact_lock({MigrationLock.ToString(CultureInfo.InvariantCulture)})", cancellationToken);
        await ExecuteAsync(connection, transaction, "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)", cancellationToken);
        await using (var read = PostgresSql.Command(connection, transaction, "SELECT COALESCE(MAX(version), 0) FROM schema_version"))
        {
            var current = Convert.ToInt32(await read.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
            if (current > s_migrations.Length)
            {
                throw new NewerSchemaException(current, s_migrations.Length);
            }

            for (var version = current + 1; version <= s_migrations.Length; version++)
            {
                await ExecuteAsync(connection, transaction, s_migrations[version - 1], cancellationToken);
                await ExecuteAsync(connection, transaction, $"INSERT INTO schema_version (version) VALUES ({version.ToString(CultureInfo.InvariantCulture)})", cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
            return current;
        }
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = PostgresSql.Command(connection, transaction, sql);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}

/// <summary>The database was migrated by a newer service than this one.</summary>
internal sealed class NewerSchemaException(int found, int known)
    : Exception($"the database is at schema version {found}, newer than this service knows ({known}); run a newer service")
{
    public int Found { get; } = found;
}
