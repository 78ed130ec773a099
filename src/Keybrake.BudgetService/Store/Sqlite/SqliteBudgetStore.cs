using System.Globalization;
using Keybrake.BudgetService.Hosting;
using Microsoft.Data.Sqlite;

namespace Keybrake.BudgetService.Store.Sqlite;

/// <summary>
/// The embedded default store: one SQLite file in WAL mode. Every operation runs on <see cref="SqliteWorker"/>,
/// batched into group commits. <c>synchronous=NORMAL</c>: a committed reservation survives a crash of the
/// service process; a power cut can lose the last moments of commits (use PostgreSQL where that matters).
/// The write-ahead log is checkpointed by <see cref="WalCheckpointer"/> on a connection of its own, never by the worker.
/// </summary>
internal sealed partial class SqliteBudgetStore : IBudgetStore, IAsyncDisposable
{
    private readonly string _path;
    private readonly TimeProvider _time;
    private readonly TimeSpan _checkpointInterval;
    private readonly ILogger<SqliteBudgetStore> _logger;
    private SqliteWorker? _worker;
    private WalCheckpointer? _checkpointer;

    public SqliteBudgetStore(string path, TimeProvider time, ILogger<SqliteBudgetStore> logger)
        : this(path, time, WalCheckpointer.DefaultInterval, logger)
    {
    }

    internal SqliteBudgetStore(string path, TimeProvider time, TimeSpan checkpointInterval, ILogger<SqliteBudgetStore> logger)
    {
        _path = Path.GetFullPath(path);
        _time = time;
        _checkpointInterval = checkpointInterval;
        _logger = logger;
    }

    /// <summary>Runs work on the store's own connection, in its transaction: for tests that set a fault on it (a size limit, as a full disk would).</summary>
    internal Task<T> RunOnWorkerAsync<T>(Func<SqliteCommands, T> work, CancellationToken cancellationToken) => Worker.RunAsync(work, cancellationToken);

    /// <summary>The background checkpointer, once the store is open.</summary>
    internal WalCheckpointer? Checkpointer => _checkpointer;

    /// <summary>The database and the files SQLite keeps beside it.</summary>
    private string[] Files => [_path, _path + "-wal", _path + "-shm"];

    private SqliteWorker Worker => _worker ?? throw new InvalidOperationException("The budget store is not open: call MigrateAsync first.");

    public Task MigrateAsync(CancellationToken cancellationToken)
    {
        if (_worker is not null)
        {
            return Task.CompletedTask;
        }

        var directory = Path.GetDirectoryName(_path);
        if (!string.IsNullOrEmpty(directory))
        {
            DataFiles.EnsureDirectory(directory);
        }

        // SQLite gives the WAL and shared-memory files the database file's mode, so a database created 0600
        // (and older files tightened) keeps all three private whatever the umask.
        CreatePrivate(_path);
        foreach (var file in Files)
        {
            DataFiles.Secure(file);
        }

        var connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = _path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        }.ToString();
        var connection = new SqliteConnection(connectionString);
        try
        {
            connection.Open();
            using (var pragmas = connection.CreateCommand())
            {
                pragmas.CommandText = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA wal_autocheckpoint = 0;";
                pragmas.ExecuteNonQuery();
            }

            SqliteSchema.Migrate(connection);
            SqliteSchema.ProbeWrite(connection);
            foreach (var file in Files)
            {
                DataFiles.Secure(file);
            }

            _checkpointer = new WalCheckpointer(connectionString, _checkpointInterval, _time, _logger);
        }
        catch (Exception exception)
        {
            // A file the service refuses (read-only, newer schema, not a database) is not held open by a service that did not start.
            connection.Dispose();
            if (exception is SqliteException or InvalidOperationException or IOException or UnauthorizedAccessException)
            {
                throw new ServiceStartException($"The budget database {_path} cannot be used for writing: {ServiceStartException.Reason(exception)}.", exception);
            }

            throw;
        }

        Log.StoreOpened(_logger, _path, SqliteSchema.Version);
        _worker = new SqliteWorker(connection, _logger);
        return Task.CompletedTask;
    }

    public ValueTask<AuthorizeOutcome> AuthorizeAsync(AuthorizeCommand command, CancellationToken cancellationToken) =>
        new(Worker.RunAsync(c => c.Authorize(command), cancellationToken));

    public ValueTask<IReadOnlyList<SettleResult>> SettleAsync(IReadOnlyList<SettleCommand> settlements, Func<string, bool> mayTouch, DateTimeOffset now, Func<string, KeyCaps?> capsOf, CancellationToken cancellationToken) =>
        new(Worker.RunAsync<IReadOnlyList<SettleResult>>(
            c => settlements.Select(s => c.Settle(s.ReservationId, s.Commit, s.ActualMicroUsd, now, capsOf, byClient: true, mayTouch)).ToList(),
            cancellationToken));

    public ValueTask<IReadOnlySet<string>> GetRevokedAsync(IReadOnlyCollection<string> keyIds, CancellationToken cancellationToken) =>
        new(Worker.RunAsync<IReadOnlySet<string>>(
            c => keyIds.Where(c.IsRevoked).ToHashSet(StringComparer.Ordinal),
            cancellationToken));

    public ValueTask SetRevokedAsync(string keyId, bool revoked, DateTimeOffset now, CancellationToken cancellationToken) =>
        new(Worker.RunAsync(
            c =>
            {
                using var command = c.AdHoc(
                    """
                    INSERT INTO key_state (key_id, revoked, updated_at) VALUES ($key, $revoked, $now)
                    ON CONFLICT (key_id) DO UPDATE SET revoked = excluded.revoked, updated_at = excluded.updated_at
                    """,
                    ("$key", keyId), ("$revoked", revoked ? 1 : 0), ("$now", now.ToUnixTimeMilliseconds()));
                return command.ExecuteNonQuery();
            },
            cancellationToken));

    public ValueTask<StoredObject?> FindObjectAsync(string keyId, string vendor, string objectId, CancellationToken cancellationToken) =>
        new(Worker.RunAsync(
            c =>
            {
                using var command = c.AdHoc(
                    "SELECT kind, customer, account, currency, amount, amount_returned FROM vendor_object WHERE key_id = $key AND vendor = $vendor AND object_id = $id",
                    ("$key", keyId), ("$vendor", vendor), ("$id", objectId));
                using var reader = command.ExecuteReader();
                return reader.Read()
                    ? new StoredObject(
                        objectId,
                        reader.GetString(0),
                        reader.IsDBNull(1) ? null : reader.GetString(1),
                        reader.IsDBNull(2) ? null : reader.GetString(2),
                        reader.IsDBNull(3) ? null : reader.GetString(3),
                        reader.GetInt64(4),
                        reader.GetInt64(5))
                    : null;
            },
            cancellationToken));

    public ValueTask RememberObjectsAsync(string keyId, string vendor, IReadOnlyList<StoredObject> objects, DateTimeOffset now, CancellationToken cancellationToken) =>
        new(Worker.RunAsync(
            c =>
            {
                foreach (var item in objects)
                {
                    using var command = c.AdHoc(
                        """
                        INSERT INTO vendor_object (key_id, vendor, object_id, kind, customer, account, currency, amount, amount_returned, updated_at)
                        VALUES ($key, $vendor, $id, $kind, $customer, $account, $currency, $amount, $returned, $now)
                        ON CONFLICT (key_id, vendor, object_id) DO UPDATE SET kind = excluded.kind, customer = excluded.customer,
                            account = excluded.account, currency = excluded.currency, amount = excluded.amount,
                            amount_returned = excluded.amount_returned, updated_at = excluded.updated_at
                        """,
                        ("$key", keyId), ("$vendor", vendor), ("$id", item.Id), ("$kind", item.Kind), ("$customer", item.Customer), ("$account", item.Account),
                        ("$currency", item.Currency), ("$amount", item.Amount), ("$returned", item.AmountReturned), ("$now", now.ToUnixTimeMilliseconds()));
                    command.ExecuteNonQuery();
                }

                return objects.Count;
            },
            cancellationToken));

    public ValueTask<int> AppendAuditAsync(IReadOnlyList<StoredAuditRecord> records, DateTimeOffset now, CancellationToken cancellationToken) =>
        new(Worker.RunAsync(c => records.Count(record => c.AppendAudit(record, now)), cancellationToken));

    public ValueTask<StoredSpend> GetDaySpendAsync(string keyId, DateOnly day, CancellationToken cancellationToken) =>
        new(Worker.RunAsync(c => c.DaySpend(keyId, day), cancellationToken));

    public ValueTask<StoredSpend> GetRunSpendAsync(string keyId, string runId, CancellationToken cancellationToken) =>
        new(Worker.RunAsync(c => c.RunSpend(keyId, runId), cancellationToken));

    public ValueTask<IReadOnlyList<StoredReservation>> ListUnsettledAsync(string? keyId, CancellationToken cancellationToken) =>
        new(Worker.RunAsync<IReadOnlyList<StoredReservation>>(
            c =>
            {
                using var command = c.AdHoc(
                    """
                    SELECT reservation_id, key_id, run_id, idempotency_key, estimate, day, created_at, CASE state WHEN 3 THEN actual END FROM reservation
                    WHERE state IN (0, 3) AND ($key IS NULL OR key_id = $key) ORDER BY created_at
                    """,
                    ("$key", keyId));
                using var reader = command.ExecuteReader();
                var list = new List<StoredReservation>();
                while (reader.Read())
                {
                    list.Add(new StoredReservation(
                        reader.GetString(0),
                        reader.GetString(1),
                        reader.IsDBNull(2) ? null : reader.GetString(2),
                        reader.GetString(3),
                        reader.GetInt64(4),
                        DateOnly.ParseExact(reader.GetString(5), "yyyy-MM-dd", CultureInfo.InvariantCulture),
                        DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(6)),
                        reader.IsDBNull(7) ? null : reader.GetInt64(7)));
                }

                return list;
            },
            cancellationToken));

    public ValueTask<SettleResult> ResolveAsync(string reservationId, long? actualMicroUsd, DateTimeOffset now, Func<string, KeyCaps?> capsOf, CancellationToken cancellationToken) =>
        new(Worker.RunAsync(c => c.Settle(reservationId, actualMicroUsd is not null, actualMicroUsd ?? 0, now, capsOf, byClient: false), cancellationToken));

    public ValueTask<int> PruneFinishedAsync(DateTimeOffset finishedBefore, CancellationToken cancellationToken) =>
        new(Worker.RunAsync(
            c =>
            {
                using var command = c.AdHoc(
                    "DELETE FROM reservation WHERE state IN (1, 2) AND finished_at < $before",
                    ("$before", finishedBefore.ToUnixTimeMilliseconds()));
                var pruned = command.ExecuteNonQuery();

                // A deferral whose reservation is forgotten has nothing left to settle.
                using var deferrals = c.AdHoc("DELETE FROM deferred_object WHERE reservation_id NOT IN (SELECT reservation_id FROM reservation)");
                deferrals.ExecuteNonQuery();

                // Ended leases are kept as long as finished reservations, for ListLeases and a late retry of a grant.
                using var leases = c.AdHoc("DELETE FROM lease WHERE state <> 0 AND ended_at < $before", ("$before", finishedBefore.ToUnixTimeMilliseconds()));
                leases.ExecuteNonQuery();
                return pruned;
            },
            cancellationToken));

    public async ValueTask<PrunedRecords> PruneRecordsAsync(RecordCutoffs cutoffs, CancellationToken cancellationToken)
    {
        var audit = cutoffs.AuditBefore is { } auditBefore
            ? await PruneAsync("DELETE FROM audit_record WHERE record_id IN (SELECT record_id FROM audit_record WHERE timestamp < $before LIMIT $batch)", auditBefore, cancellationToken)
            : 0;
        var objects = await PruneAsync(
            "DELETE FROM vendor_object WHERE (key_id, vendor, object_id) IN (SELECT key_id, vendor, object_id FROM vendor_object WHERE updated_at < $before LIMIT $batch)",
            cutoffs.ObjectsBefore,
            cancellationToken);
        var duties = await PruneAsync(
            "DELETE FROM duty_claim WHERE (key_id, duty) IN (SELECT key_id, duty FROM duty_claim WHERE expires_at < $before LIMIT $batch)", cutoffs.Now, cancellationToken);
        return new PrunedRecords(audit, objects, duties);
    }

    /// <summary>One delete, a batch at a time on the worker: money-path operations queued meanwhile run between batches.</summary>
    private ValueTask<int> PruneAsync(string sql, DateTimeOffset before, CancellationToken cancellationToken) =>
        PruneBatches.RunAsync(
            token => new ValueTask<int>(Worker.RunAsync(
                c =>
                {
                    using var command = c.AdHoc(sql, ("$before", before.ToUnixTimeMilliseconds()), ("$batch", PruneBatches.Size));
                    return command.ExecuteNonQuery();
                },
                token)),
            cancellationToken);

    /// <summary>Creates an empty database file, 0600 from its first byte, unless one is there.</summary>
    private static void CreatePrivate(string path)
    {
        if (OperatingSystem.IsWindows() || File.Exists(path) || Directory.Exists(path))
        {
            return;
        }

        try
        {
            using (new FileStream(path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = DataFiles.FileMode }))
            {
            }

            File.SetUnixFileMode(path, DataFiles.FileMode); // the umask filters UnixCreateMode
        }
        catch (IOException) when (File.Exists(path))
        {
            // created meanwhile by another opener: Secure tightens it
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            throw new ServiceStartException($"The budget database {path} cannot be created: {ServiceStartException.Reason(exception)}.", exception);
        }
    }

    public async ValueTask PingAsync(CancellationToken cancellationToken) =>
        await Worker.RunAsync(
            c =>
            {
                using var ping = c.AdHoc("SELECT 1");
                return ping.ExecuteScalar();
            },
            cancellationToken).ConfigureAwait(false);

    public async ValueTask DisposeAsync()
    {
        if (_checkpointer is not null)
        {
            await _checkpointer.DisposeAsync().ConfigureAwait(false);
        }

        if (_worker is not null)
        {
            await _worker.DisposeAsync().ConfigureAwait(false);
        }
    }
}
