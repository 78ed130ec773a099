using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.ClientFactory;
using Keybrake.Protocol;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Keybrake.Client.Central;

/// <summary>
/// In central mode, every audit record is written to a local SQLite outbox before the guarded call returns,
/// then shipped to the budget service in batches and deleted once the service has it. Each process writes a
/// file of its own beside the configured path (<see cref="OutboxFiles"/>), so a call's INSERT waits only on this
/// process's shipper, never on another process's write lock: processes sharing one file made a call wait for
/// seconds. A crash or an outage loses nothing: this process's next ship sends what is left, and what a
/// stopped process left is shipped by any process sharing the configured path (<see cref="ShipLeftoversAsync"/>);
/// the service stores each record once, by record id. Ships run on a short timer, or sooner once a batch's worth
/// has been written, rather than once per record: each ship is a request and a store transaction at the
/// service, and three transactions on the outbox file.
/// </summary>
internal sealed partial class AuditOutbox : IAuditSink, IAsyncDisposable, IDisposable
{
    private const int BatchSize = 500;

    /// <summary>Records written since the last ship that wake the shipper before its timer.</summary>
    private const int ShipThreshold = 100;

    /// <summary>
    /// The log pages at which a call's own commit checkpoints after all: 4 times SQLite's default. Under a steady stream of
    /// calls the shipper's passive checkpoints never find the log fully copied, so the log would not start over without it.
    /// </summary>
    private const int WriterCheckpointPages = 4_000;
    private const string RefusedClaimant = "refused";
    private static readonly TimeSpan s_shipInterval = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan s_staleClaim = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan s_finalShipTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan s_firstFinalRetry = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan s_maxFinalRetry = TimeSpan.FromMilliseconds(500);

    /// <summary>How often the shipper looks for files stopped processes left (and at its start).</summary>
    private static readonly TimeSpan s_leftoverInterval = TimeSpan.FromSeconds(10);

    /// <summary>Guards the shipper's connection (claims, deletes, counts).</summary>
    private readonly Lock _gate = new();
    private readonly SqliteConnection _connection;

    /// <summary>Held for this process's life: while it is, no other process ships or deletes this file.</summary>
    private readonly FileStream _ownership;
    private readonly string _configuredPath;

    /// <summary>Leftover files kept for what the service refused: nothing in them to ship, so not opened again.</summary>
    private readonly HashSet<string> _kept = new(StringComparer.Ordinal);
    private readonly bool _shipsLeftovers;

    /// <summary>
    /// Guards the writers' own connection: a call's INSERT never waits behind this process's shipper holding
    /// the other connection (a claim or a delete of 500 rows), only on the file's write lock itself.
    /// </summary>
    private readonly Lock _writeGate = new();
    private readonly SqliteConnection _writeConnection;
    private readonly SqliteCommand _insert;
    private readonly Budget.BudgetClient _client;
    private readonly BudgetServiceResilience _resilience;
    private readonly TimeProvider _time;

    /// <summary>The clock of the last ship's bound and backoff: transport timing, the system's.</summary>
    private readonly TimeProvider _transportTime = TimeProvider.System;
    private readonly ILogger<AuditOutbox> _logger;
    private readonly string _claimant;
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _shipper;
    private int _written;
    private int _disposed;

    public AuditOutbox(GrpcClientFactory clients, IOptions<KeybrakeBudgetServiceOptions> options, TimeProvider time, IdGenerator ids, ILogger<AuditOutbox> logger)
    {
        var settings = options.Value;
        _client = clients.CreateClient<Budget.BudgetClient>(BudgetServiceClients.BudgetName);
        _resilience = new BudgetServiceResilience(settings);
        _time = time;
        _logger = logger;
        _claimant = ids.New("outbox_");
        _configuredPath = System.IO.Path.GetFullPath(settings.OutboxPath);
        Path = OutboxFiles.OwnPath(_configuredPath);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);

        // The lock before the file: a file that exists always has a live owner or a free lock.
        _ownership = OutboxFiles.TryLock(Path) ?? throw new IOException($"The outbox lock {Path}.lock is held by another process.");

        // With file locking off (DOTNET_SYSTEM_IO_DISABLEFILELOCKING) a live owner cannot be told from a dead
        // one: shipping others' files could then delete one its owner still writes, so this process does not.
        _shipsLeftovers = OutboxFiles.LocksHold(Path);
        _connection = Open(Path);
        _writeConnection = Open(Path);

        // A checkpoint syncs the file twice, and SQLite runs one on whichever commit takes the log past 1,000 pages:
        // a call's INSERT, every few hundred calls. The shipper checkpoints after each ship instead (Checkpoint); the
        // calls' connection keeps a far bound, so that a log the shipper cannot keep short still ends.
        _ = Scalar(_writeConnection, $"PRAGMA wal_autocheckpoint = {WriterCheckpointPages}");
        _insert = _writeConnection.CreateCommand();
        _insert.CommandText = "INSERT OR IGNORE INTO outbox (record_id, payload, created_at) VALUES ($id, $payload, $now)";
        _insert.Parameters.Add(new SqliteParameter("$id", SqliteType.Text));
        _insert.Parameters.Add(new SqliteParameter("$payload", SqliteType.Blob));
        _insert.Parameters.Add(new SqliteParameter("$now", SqliteType.Integer));
        _shipper = Task.Run(ShipLoopAsync);
    }

    /// <summary>This process's outbox file.</summary>
    public string Path { get; }

    /// <summary>Records written to the file before the call returns: durable against a crash of this process.</summary>
    public ValueTask WriteAsync(AuditRecord record, CancellationToken cancellationToken)
    {
        var payload = AuditRecordMapping.ToProtocol(record).ToByteArray();
        lock (_writeGate)
        {
            _insert.Parameters[0].Value = record.RecordId;
            _insert.Parameters[1].Value = payload;
            _insert.Parameters[2].Value = _time.GetUtcNow().ToUnixTimeMilliseconds();
            _insert.ExecuteNonQuery();
        }

        if (Interlocked.Increment(ref _written) == ShipThreshold)
        {
            _wake.Release();
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Keeps a batch of settlements the service refused for good in the file's <c>set_aside</c> table (kind
    /// <c>settle</c>, the <c>SettleRequest</c> as protobuf, and the service's reason), beside the refused audit
    /// records, where an operator can read them; logged with the file's path.
    /// </summary>
    public void SetAsideSettlements(SettleRequest batch, string problem)
    {
        var payload = batch.ToByteArray();
        lock (_gate)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "INSERT INTO set_aside (kind, payload, problem, set_aside_at) VALUES ('settle', $payload, $problem, $now)";
            command.Parameters.AddWithValue("$payload", payload);
            command.Parameters.AddWithValue("$problem", problem);
            command.Parameters.AddWithValue("$now", _time.GetUtcNow().ToUnixTimeMilliseconds());
            command.ExecuteNonQuery();
        }

        Log.SettlementsSetAside(_logger, batch.Settlements.Count, Path, problem);
    }

    /// <summary>Records waiting in this process's file.</summary>
    public long Count()
    {
        lock (_gate)
        {
            return Scalar(_connection, "SELECT COUNT(*) FROM outbox");
        }
    }

    /// <summary>Ships until the outbox is empty or the service cannot be reached; returns how many records went.</summary>
    public async Task<int> ShipAsync(CancellationToken cancellationToken) =>
        (await ShipAsync(_connection, _gate, Path, direct: false, cancellationToken).ConfigureAwait(false)).Shipped;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await _shipper.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // stopped between ships
        }

        await ShipLastAsync().ConfigureAwait(false);
        bool empty;
        lock (_gate)
        {
            empty = IsEmpty(_connection);
        }

        if (!empty)
        {
            Log.AuditLeftInOutbox(_logger, Path);
        }

        Close();
        try
        {
            if (empty)
            {
                OutboxFiles.Delete(Path);
            }
        }
        catch (IOException exception)
        {
            Log.AuditShipFailed(_logger, Path, exception); // an empty file left behind: the next process deletes it
        }
        finally
        {
            OutboxFiles.Release(_ownership, Path);
        }
    }

    /// <summary>
    /// The last ship, at shutdown: tries again with backoff until nothing is left to claim or its bound runs
    /// out, whatever state the circuit breaker is in. A process often exits right after a blip (a deploy, a
    /// short job), while the breaker that opened during the blip is still open although the service is back:
    /// one attempt through the breaker failed at once and left the records in a file that, with per-instance
    /// storage, no one ships. Records the service refused and set aside are not claimed, so they do not keep
    /// it trying; nor do records another live process has claimed (it ships them).
    /// </summary>
    private async Task ShipLastAsync()
    {
        using var bound = new CancellationTokenSource(s_finalShipTimeout, _transportTime);
        var backoff = s_firstFinalRetry;
        while (true)
        {
            try
            {
                if ((await ShipAsync(_connection, _gate, Path, direct: true, bound.Token).ConfigureAwait(false)).Drained)
                {
                    return;
                }

                await Task.Delay(backoff, _transportTime, bound.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return; // out of time: what is left waits in the file, and is logged
            }
            catch (Exception exception) when (IsShipFailure(exception))
            {
                Log.AuditShipFailed(_logger, Path, exception);
                return;
            }

            backoff = backoff * 2 > s_maxFinalRetry ? s_maxFinalRetry : backoff * 2;
        }
    }

    /// <summary>
    /// Ships batch after batch until none is left to claim (drained) or the service cannot be reached.
    /// <paramref name="direct"/> sends each batch once, past the retries and the breaker, for the last ship.
    /// </summary>
    private async Task<(int Shipped, bool Drained)> ShipAsync(SqliteConnection connection, Lock gate, string path, bool direct, CancellationToken cancellationToken)
    {
        var shipped = 0;
        while (Claim(connection, gate) is { Count: > 0 } batch)
        {
            // What still waits behind this batch rides along for the service's dashboards: an operator sees an outbox
            // that grows, and 0 once the last batch of a drain went.
            var request = new SubmitAuditRequest { OutboxBacklog = Math.Max(0, Backlog(connection, gate) - batch.Count) };
            foreach (var (_, payload) in batch)
            {
                request.Records.Add(Protocol.AuditRecord.Parser.ParseFrom(payload));
            }

            try
            {
                Func<DateTime, CancellationToken, ValueTask<SubmitAuditReply>> submit =
                    async (deadline, token) => await _client.SubmitAuditAsync(request, deadline: deadline, cancellationToken: token).ConfigureAwait(false);
                _ = direct
                    ? await _resilience.ExecuteDirectAsync(submit, cancellationToken).ConfigureAwait(false)
                    : await _resilience.ExecuteAsync(submit, cancellationToken).ConfigureAwait(false);
            }
            catch (RpcException exception) when (exception.StatusCode is StatusCode.InvalidArgument or StatusCode.PermissionDenied)
            {
                // The service will never take this batch as it is (PermissionDenied: a record for a key outside this
                // process's credential, written by a process that shares the file with another credential); sending
                // it again would block every record behind it. It stays in the file, set aside where an operator can
                // read it, and shipping goes on.
                Quarantine(connection, gate, batch);
                Log.AuditBatchRefused(_logger, batch.Count, path, exception.Status.Detail);
                continue;
            }
            catch (RpcException exception) when (exception.StatusCode == StatusCode.Unauthenticated)
            {
                // The credential is refused (revoked, say): the records wait in the file for a process the service
                // will take them from.
                Unclaim(connection, gate, batch);
                Log.BudgetServiceRefusedCredential(_logger, "SubmitAudit", exception.Status.Detail);
                return (shipped, false);
            }
            catch (Exception exception)
            {
                // Whatever stopped this ship (an outage, a shutdown), the batch goes back at once: a claim left
                // behind would keep it from every shipper, this process's next one included, until stale.
                Unclaim(connection, gate, batch);
                if (!BudgetServiceResilience.IsOutage(exception))
                {
                    throw;
                }

                Log.BudgetServiceUnreachable(_logger, "SubmitAudit", exception.Message);
                return (shipped, false);
            }

            Delete(connection, gate, batch);
            shipped += batch.Count;
        }

        return (shipped, true);
    }

    /// <summary>
    /// For containers disposed synchronously: stops shipping without a last ship, which would wait on the
    /// network. Nothing is lost: what is left waits in the file for the next process to ship.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _stopping.Cancel();

        // The shipper may be between a claim and its release: the file closes once it has stopped.
        _shipper.ContinueWith(
            static (shipper, state) =>
            {
                _ = shipper.Exception; // observed: it stopped, as asked
                var outbox = (AuditOutbox)state!;
                outbox.Close();
                outbox._ownership.Dispose(); // the file stays, for any process to ship

            },
            this,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    /// <summary>Opens an outbox; <paramref name="create"/> false for another process's file, which must exist.</summary>
    private static SqliteConnection Open(string path, bool create = true)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Pooling = false,
            Mode = create ? SqliteOpenMode.ReadWriteCreate : SqliteOpenMode.ReadWrite,
        }.ToString());
        connection.Open();
        using var setup = connection.CreateCommand();
        setup.CommandText =
            """
            PRAGMA busy_timeout = 5000;
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = NORMAL;
            CREATE TABLE IF NOT EXISTS outbox (
                record_id TEXT PRIMARY KEY,
                payload BLOB NOT NULL,
                created_at INTEGER NOT NULL,
                claimed_by TEXT,
                claimed_at INTEGER
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS set_aside (
                id INTEGER PRIMARY KEY,
                kind TEXT NOT NULL,
                payload BLOB NOT NULL,
                problem TEXT NOT NULL,
                set_aside_at INTEGER NOT NULL
            );
            """;
        setup.ExecuteNonQuery();
        return connection;
    }

    private async Task ShipLoopAsync()
    {
        var nextLeftovers = _transportTime.GetTimestamp();
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                if (_transportTime.GetElapsedTime(nextLeftovers) >= TimeSpan.Zero)
                {
                    nextLeftovers = _transportTime.GetTimestamp() + (long)(s_leftoverInterval.TotalSeconds * _transportTime.TimestampFrequency);
                    await ShipLeftoversAsync(_stopping.Token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception)
            {
                Log.AuditShipFailed(_logger, _configuredPath, exception);
            }

            await _wake.WaitAsync(s_shipInterval, _stopping.Token).ConfigureAwait(false);
            Interlocked.Exchange(ref _written, 0);
            try
            {
                await ShipAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception)
            {
                // Whatever it was, the records stay in the file and the next ship tries again: the shipper
                // never stops before the process does.
                Log.AuditShipFailed(_logger, Path, exception);
            }

            Checkpoint();
        }
    }

    /// <summary>A ship that failed without an outage: the file could not be read or written, or the service refused the batch.</summary>
    private static bool IsShipFailure(Exception exception) => exception is SqliteException or InvalidOperationException or RpcException;

    private void Close()
    {
        lock (_writeGate)
        {
            _insert.Dispose();
            _writeConnection.Dispose();
        }

        lock (_gate)
        {
            _connection.Dispose();
        }

        _wake.Dispose();
        _stopping.Dispose();
    }

    /// <summary>
    /// Copies the log the calls' inserts grew back into the file, off their path, after every ship (a ship that found
    /// the service away too: an outage does not grow the log). Passive: it waits for no writer and holds none off.
    /// </summary>
    private void Checkpoint()
    {
        try
        {
            lock (_gate)
            {
                _ = Scalar(_connection, "PRAGMA wal_checkpoint(PASSIVE)");
            }
        }
        catch (Exception exception)
        {
            // Like a failed ship: the next one checkpoints again, and the shipper never stops before the process does.
            Log.AuditShipFailed(_logger, Path, exception);
        }
    }

    /// <summary>Claims a batch no live shipper holds: unclaimed, or claimed by a process that stopped long ago.</summary>
    private List<(string Id, byte[] Payload)> Claim(SqliteConnection connection, Lock gate)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        lock (gate)
        {
            using var command = connection.CreateCommand();
            command.CommandText =
                """
                UPDATE outbox SET claimed_by = $me, claimed_at = $now
                WHERE record_id IN (
                    SELECT record_id FROM outbox WHERE claimed_at IS NULL OR claimed_at < $stale ORDER BY created_at LIMIT $limit)
                RETURNING record_id, payload
                """;
            command.Parameters.AddWithValue("$me", _claimant);
            command.Parameters.AddWithValue("$now", now);
            command.Parameters.AddWithValue("$stale", now - (long)s_staleClaim.TotalMilliseconds);
            command.Parameters.AddWithValue("$limit", BatchSize);
            using var reader = command.ExecuteReader();
            var batch = new List<(string, byte[])>();
            while (reader.Read())
            {
                batch.Add((reader.GetString(0), (byte[])reader.GetValue(1)));
            }

            return batch;
        }
    }

    private static long Backlog(SqliteConnection connection, Lock gate)
    {
        lock (gate)
        {
            return Scalar(connection, "SELECT COUNT(*) FROM outbox");
        }
    }

    private void Delete(SqliteConnection connection, Lock gate, List<(string Id, byte[] Payload)> batch) =>
        ForEachClaimed(connection, gate, batch, "DELETE FROM outbox WHERE claimed_by = $me AND record_id IN (SELECT value FROM json_each($ids))");

    /// <summary>Claimed by "refused" and never stale: no shipper takes these again.</summary>
    private void Quarantine(SqliteConnection connection, Lock gate, List<(string Id, byte[] Payload)> batch) =>
        ForEachClaimed(connection, gate, batch, $"UPDATE outbox SET claimed_by = '{RefusedClaimant}', claimed_at = {long.MaxValue} WHERE claimed_by = $me AND record_id IN (SELECT value FROM json_each($ids))");

    private void Unclaim(SqliteConnection connection, Lock gate, List<(string Id, byte[] Payload)> batch) =>
        ForEachClaimed(connection, gate, batch, "UPDATE outbox SET claimed_by = NULL, claimed_at = NULL WHERE claimed_by = $me AND record_id IN (SELECT value FROM json_each($ids))");

    /// <summary>One statement for the whole batch (its ids as a JSON array): the file's write lock is held for as short a time as it can be.</summary>
    private void ForEachClaimed(SqliteConnection connection, Lock gate, List<(string Id, byte[] Payload)> batch, string sql)
    {
        var ids = System.Text.Json.JsonSerializer.Serialize(batch.ConvertAll(item => item.Id));
        lock (gate)
        {
            using var command = connection.CreateCommand();
            command.CommandText = sql;
            command.Parameters.AddWithValue("$ids", ids);
            command.Parameters.AddWithValue("$me", _claimant);
            command.ExecuteNonQuery();
        }
    }
}
