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

        // 3: the host each audited call was addressed to (empty for records written before it was known).
        """
        ALTER TABLE audit_record ADD COLUMN host TEXT;
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

    private static void Execute(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
