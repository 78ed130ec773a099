using System.Globalization;
using Keybrake.BudgetService.Hosting;
using Npgsql;
using static Keybrake.BudgetService.Store.Postgres.PostgresSql;

namespace Keybrake.BudgetService.Store.Postgres;

/// <summary>
/// The store on PostgreSQL, for a service that runs as several replicas on one database: the service keeps no state
/// of its own, and every operation is a transaction that holds against any number of writers (see
/// <see cref="PostgresDatabase"/>).
/// </summary>
internal sealed partial class PostgresBudgetStore : IBudgetStore
{
    private readonly PostgresDatabase _database;
    private readonly ILogger<PostgresBudgetStore> _logger;
    private int _migrated;

    public PostgresBudgetStore(PostgresDatabase database, ILogger<PostgresBudgetStore> logger)
    {
        _database = database;
        _logger = logger;
    }

    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _migrated) != 0)
        {
            return;
        }

        try
        {
            await using var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken);
            var from = await PostgresSchema.MigrateAsync(connection, cancellationToken);
            if (from != PostgresSchema.Version)
            {
                Log.PostgresMigrated(_logger, _database.Description, from, PostgresSchema.Version);
            }
        }
        catch (Exception exception) when (exception is NpgsqlException or NewerSchemaException or TimeoutException)
        {
            // Npgsql's messages name the server and the problem, never the password.
            throw new ServiceStartException($"The PostgreSQL budget database {_database.Description} cannot be used: {Why(exception)}.", exception);
        }

        Volatile.Write(ref _migrated, 1);
        Log.PostgresStoreOpened(_logger, _database.Description, PostgresSchema.Version);
    }

    /// <summary>The reason, with the network's own when Npgsql only says it failed to connect ("Connection refused", a timeout).</summary>
    private static string Why(Exception exception) =>
        exception is NpgsqlException { InnerException: { } inner } and not PostgresException
            ? $"{ServiceStartException.Reason(exception)} ({ServiceStartException.Reason(inner)})"
            : ServiceStartException.Reason(exception);

    public async ValueTask<AuthorizeOutcome> AuthorizeAsync(AuthorizeCommand command, CancellationToken cancellationToken) =>
        await _database.InTransactionAsync(
            (connection, transaction) => PostgresMoneyPath.AuthorizeAsync(connection, transaction, command, cancellationToken),
            cancellationToken,
            commitIf: outcome => outcome.Status == AuthorizeStatus.Reserved);

    /// <summary>
    /// Each settlement is a transaction of its own: a batch may touch several keys' counters, and one transaction
    /// holding them all could wait on another batch that holds them in the other order. A settlement is idempotent by
    /// reservation id, so a batch cut short by a failure is safely sent again.
    /// </summary>
    public async ValueTask<IReadOnlyList<SettleResult>> SettleAsync(IReadOnlyList<SettleCommand> settlements, Func<string, bool> mayTouch, DateTimeOffset now, Func<string, KeyCaps?> capsOf, CancellationToken cancellationToken)
    {
        var results = new List<SettleResult>(settlements.Count);
        foreach (var settlement in settlements)
        {
            results.Add(await _database.InTransactionAsync(
                (connection, transaction) => PostgresMoneyPath.SettleAsync(connection, transaction, settlement.ReservationId, settlement.Commit, settlement.ActualMicroUsd, now, capsOf, byClient: true, mayTouch, cancellationToken),
                cancellationToken));
        }

        return results;
    }

    public async ValueTask<SettleResult> ResolveAsync(string reservationId, long? actualMicroUsd, DateTimeOffset now, Func<string, KeyCaps?> capsOf, CancellationToken cancellationToken) =>
        await _database.InTransactionAsync(
            (connection, transaction) => PostgresMoneyPath.SettleAsync(connection, transaction, reservationId, actualMicroUsd is not null, actualMicroUsd ?? 0, now, capsOf, byClient: false, mayTouch: null, cancellationToken),
            cancellationToken);

    public async ValueTask<IReadOnlySet<string>> GetRevokedAsync(IReadOnlyCollection<string> keyIds, CancellationToken cancellationToken) =>
        await _database.OnConnectionAsync<IReadOnlySet<string>>(async connection =>
        {
            await using var command = Command(connection, null, "SELECT key_id FROM key_state WHERE key_id = ANY($1) AND revoked", TextArray(keyIds));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var revoked = new HashSet<string>(StringComparer.Ordinal);
            while (await reader.ReadAsync(cancellationToken))
            {
                revoked.Add(reader.GetString(0));
            }

            return revoked;
        }, cancellationToken);

    /// <summary>
    /// Takes the key's lock exclusively (every Authorize holds it shared until it commits, so no reservation commits
    /// after this revocation: see <see cref="KeyLock"/>), and tells the other replicas when it commits.
    /// </summary>
    public async ValueTask SetRevokedAsync(string keyId, bool revoked, DateTimeOffset now, CancellationToken cancellationToken) =>
        await _database.InTransactionAsync(async (connection, transaction) =>
        {
            await using (var locked = Command(connection, transaction, KeyLock.Exclusive, Text(keyId)))
            {
                await locked.ExecuteNonQueryAsync(cancellationToken);
            }

            await using (var command = Command(connection, transaction,
                """
                INSERT INTO key_state (key_id, revoked, updated_at) VALUES ($1, $2, $3)
                ON CONFLICT (key_id) DO UPDATE SET revoked = excluded.revoked, updated_at = excluded.updated_at
                """,
                Text(keyId), Boolean(revoked), Millis(now)))
            {
                await command.ExecuteNonQueryAsync(cancellationToken);
            }

            await PostgresChanges.NotifyAsync(connection, transaction, PostgresChanges.KeyChanged(keyId), cancellationToken);
            return true;
        }, cancellationToken);

    public async ValueTask<StoredObject?> FindObjectAsync(string keyId, string vendor, string objectId, CancellationToken cancellationToken) =>
        await _database.OnConnectionAsync(async connection =>
        {
            await using var command = Command(connection, null,
                "SELECT kind, customer, account, currency, amount, amount_returned FROM vendor_object WHERE key_id = $1 AND vendor = $2 AND object_id = $3",
                Text(keyId), Text(vendor), Text(objectId));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            return await reader.ReadAsync(cancellationToken)
                ? new StoredObject(objectId, reader.GetString(0), reader.NullableString(1), reader.NullableString(2), reader.NullableString(3), reader.GetInt64(4), reader.GetInt64(5))
                : null;
        }, cancellationToken);

    public async ValueTask RememberObjectsAsync(string keyId, string vendor, IReadOnlyList<StoredObject> objects, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (objects.Count == 0)
        {
            return;
        }

        await _database.InTransactionAsync(async (connection, transaction) =>
        {
            await using var batch = new NpgsqlBatch(connection, transaction);
            foreach (var item in objects)
            {
                batch.BatchCommands.Add(BatchCommand(
                    """
                    INSERT INTO vendor_object (key_id, vendor, object_id, kind, customer, account, currency, amount, amount_returned, updated_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                    ON CONFLICT (key_id, vendor, object_id) DO UPDATE SET kind = excluded.kind, customer = excluded.customer,
                        account = excluded.account, currency = excluded.currency, amount = excluded.amount,
                        amount_returned = excluded.amount_returned, updated_at = excluded.updated_at
                    """,
                    Text(keyId), Text(vendor), Text(item.Id), Text(item.Kind), Text(item.Customer), Text(item.Account), Text(item.Currency),
                    Bigint(item.Amount), Bigint(item.AmountReturned), Millis(now)));
            }

            return await batch.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);
    }

    /// <summary>One round trip for the whole batch; a record id seen before (or twice in the batch) is stored once.</summary>
    public async ValueTask<int> AppendAuditAsync(IReadOnlyList<StoredAuditRecord> records, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (records.Count == 0)
        {
            return 0;
        }

        return await _database.InTransactionAsync(async (connection, transaction) =>
        {
            await using var batch = new NpgsqlBatch(connection, transaction);
            foreach (var record in records)
            {
                batch.BatchCommands.Add(BatchCommand(
                    """
                    INSERT INTO audit_record (record_id, received_at, timestamp, key_id, vendor, run_id, decision, reason, record, client_id, host)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                    ON CONFLICT (record_id) DO NOTHING
                    """,
                    Text(record.RecordId), Millis(now), Millis(record.Timestamp), Text(record.KeyId), Text(record.Vendor), Text(record.RunId),
                    Text(record.Decision), Text(record.Reason), Text(record.Json), Text(record.ClientId), Text(record.Host)));
            }

            return await batch.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);
    }

    public async ValueTask<StoredSpend> GetDaySpendAsync(string keyId, DateOnly day, CancellationToken cancellationToken) =>
        await SpendAsync("SELECT settled, reserved, overrun FROM day_counter WHERE key_id = $1 AND day = $2", keyId, Sqlite.SqliteCommands.DayText(day), cancellationToken);

    public async ValueTask<StoredSpend> GetRunSpendAsync(string keyId, string runId, CancellationToken cancellationToken) =>
        await SpendAsync("SELECT settled, reserved, overrun FROM run_counter WHERE key_id = $1 AND run_id = $2", keyId, runId, cancellationToken);

    public async ValueTask<IReadOnlyList<StoredReservation>> ListUnsettledAsync(string? keyId, CancellationToken cancellationToken) =>
        await _database.OnConnectionAsync<IReadOnlyList<StoredReservation>>(async connection =>
        {
            await using var command = Command(connection, null,
                """
                SELECT reservation_id, key_id, run_id, idempotency_key, estimate, day, created_at, CASE state WHEN 3 THEN actual END FROM reservation
                WHERE state IN (0, 3) AND ($1::text IS NULL OR key_id = $1) ORDER BY created_at, reservation_id
                """,
                Text(keyId));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var list = new List<StoredReservation>();
            while (await reader.ReadAsync(cancellationToken))
            {
                list.Add(new StoredReservation(
                    reader.GetString(0),
                    reader.GetString(1),
                    reader.NullableString(2),
                    reader.GetString(3),
                    reader.GetInt64(4),
                    DateOnly.ParseExact(reader.GetString(5), "yyyy-MM-dd", CultureInfo.InvariantCulture),
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(6)),
                    reader.NullableInt64(7)));
            }

            return list;
        }, cancellationToken);

    /// <summary>One statement: the finished reservations, the deferrals that named them (they have nothing left to settle), and ended leases as old.</summary>
    public async ValueTask<int> PruneFinishedAsync(DateTimeOffset finishedBefore, CancellationToken cancellationToken) =>
        await _database.OnConnectionAsync(async connection =>
        {
            await using var command = Command(connection, null,
                """
                WITH gone AS (DELETE FROM reservation WHERE state IN (1, 2) AND finished_at < $1 RETURNING reservation_id),
                     deferrals AS (DELETE FROM deferred_object WHERE reservation_id IN (SELECT reservation_id FROM gone)),
                     leases AS (DELETE FROM lease WHERE state <> 0 AND ended_at < $1)
                SELECT count(*) FROM gone
                """,
                Millis(finishedBefore));
            return Convert.ToInt32(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
        }, cancellationToken);

    public async ValueTask<PrunedRecords> PruneRecordsAsync(RecordCutoffs cutoffs, CancellationToken cancellationToken)
    {
        var audit = cutoffs.AuditBefore is { } auditBefore
            ? await PruneAsync("DELETE FROM audit_record WHERE record_id IN (SELECT record_id FROM audit_record WHERE timestamp < $1 LIMIT $2)", auditBefore, cancellationToken)
            : 0;
        var objects = await PruneAsync(
            "DELETE FROM vendor_object WHERE (key_id, vendor, object_id) IN (SELECT key_id, vendor, object_id FROM vendor_object WHERE updated_at < $1 LIMIT $2)",
            cutoffs.ObjectsBefore,
            cancellationToken);
        var duties = await PruneAsync(
            "DELETE FROM duty_claim WHERE (key_id, duty) IN (SELECT key_id, duty FROM duty_claim WHERE expires_at < $1 LIMIT $2)", cutoffs.Now, cancellationToken);
        return new PrunedRecords(audit, objects, duties);
    }

    /// <summary>One delete, a batch per statement (each its own transaction), so no replica's writes wait long on it.</summary>
    private ValueTask<int> PruneAsync(string sql, DateTimeOffset before, CancellationToken cancellationToken) =>
        PruneBatches.RunAsync(
            token => new ValueTask<int>(ExecuteAsync(sql, token, Millis(before), Bigint(PruneBatches.Size))),
            cancellationToken);

    public async ValueTask PingAsync(CancellationToken cancellationToken) =>
        await _database.OnConnectionAsync(async connection =>
        {
            await using var command = Command(connection, null, "SELECT 1");
            return await command.ExecuteScalarAsync(cancellationToken);
        }, cancellationToken);

    private Task<StoredSpend> SpendAsync(string sql, string keyId, string scope, CancellationToken cancellationToken) =>
        _database.OnConnectionAsync(async connection =>
        {
            await using var command = Command(connection, null, sql, Text(keyId), Text(scope));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            return await reader.ReadAsync(cancellationToken) ? new StoredSpend(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2)) : new StoredSpend(0, 0);
        }, cancellationToken);

    private Task<int> ExecuteAsync(string sql, CancellationToken cancellationToken, params NpgsqlParameter[] parameters) =>
        _database.OnConnectionAsync(async connection =>
        {
            await using var command = Command(connection, null, sql, parameters);
            return await command.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);
}
