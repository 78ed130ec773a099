using Keybrake.BudgetService.Store.Sqlite;

namespace Keybrake.BudgetService.Alerts;

/// <summary>
/// Alerts on the SQLite file, on a connection of their own (like the key store): alerts are rare, and never share a
/// transaction with the money path's worker. One process owns the file, so a claim only guards against itself.
/// </summary>
internal sealed class SqliteAlertStore : IAlertStore, IDisposable
{
    private readonly SqliteSideConnection _connection;
    private int _inFlight;
    private int _disposed;
    private int _closed;

    public SqliteAlertStore(string path)
    {
        _connection = new SqliteSideConnection(path);
    }

    public ValueTask<bool> TryFireAsync(StoredAlert alert, IReadOnlyList<string> webhooks, CancellationToken cancellationToken) =>
        Guarded(() => _connection.WriteAsync((connection, transaction) =>
        {
            using var insert = connection.CreateCommand();
            insert.Transaction = transaction;
            insert.CommandText = $"""
                INSERT INTO alert ({AlertRows.AlertColumns})
                VALUES ($id, $dedupe, $type, $key, $scope, $window, $threshold, $message, $payload, $created)
                ON CONFLICT DO NOTHING
                """;
            insert.Parameters.AddWithValue("$id", alert.AlertId);
            insert.Parameters.AddWithValue("$dedupe", alert.DedupeKey);
            insert.Parameters.AddWithValue("$type", alert.Type);
            insert.Parameters.AddWithValue("$key", alert.KeyId);
            insert.Parameters.AddWithValue("$scope", (object?)alert.Scope ?? DBNull.Value);
            insert.Parameters.AddWithValue("$window", (object?)alert.Window ?? DBNull.Value);
            insert.Parameters.AddWithValue("$threshold", (object?)alert.ThresholdPercent ?? DBNull.Value);
            insert.Parameters.AddWithValue("$message", alert.Message);
            insert.Parameters.AddWithValue("$payload", alert.Payload);
            insert.Parameters.AddWithValue("$created", alert.CreatedAt.ToUnixTimeMilliseconds());
            if (insert.ExecuteNonQuery() != 1)
            {
                return false;
            }

            foreach (var webhook in webhooks)
            {
                using var delivery = connection.CreateCommand();
                delivery.Transaction = transaction;
                delivery.CommandText = "INSERT INTO alert_delivery (alert_id, webhook, state, next_attempt_at) VALUES ($id, $webhook, 0, $due)";
                delivery.Parameters.AddWithValue("$id", alert.AlertId);
                delivery.Parameters.AddWithValue("$webhook", webhook);
                delivery.Parameters.AddWithValue("$due", alert.CreatedAt.ToUnixTimeMilliseconds());
                delivery.ExecuteNonQuery();
            }

            return true;
        }, cancellationToken));

    public ValueTask<IReadOnlyList<DueDelivery>> ClaimDueAsync(DateTimeOffset now, DateTimeOffset claimUntil, int limit, CancellationToken cancellationToken) =>
        Guarded(() => _connection.WriteAsync<IReadOnlyList<DueDelivery>>((connection, transaction) =>
        {
            var due = new List<DueDelivery>();
            using (var select = connection.CreateCommand())
            {
                select.Transaction = transaction;
                select.CommandText = """
                    SELECT d.alert_id, d.webhook, d.attempts, a.message, a.payload, a.created_at
                    FROM alert_delivery d JOIN alert a ON a.alert_id = d.alert_id
                    WHERE d.state = 0 AND d.next_attempt_at <= $now AND d.claimed_until <= $now
                    ORDER BY d.next_attempt_at LIMIT $limit
                    """;
                select.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
                select.Parameters.AddWithValue("$limit", limit);
                using var reader = select.ExecuteReader();
                while (reader.Read())
                {
                    due.Add(new DueDelivery(reader.GetString(0), reader.GetString(1), reader.GetInt32(2), reader.GetString(3), reader.GetString(4),
                        DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5))));
                }
            }

            foreach (var delivery in due)
            {
                using var claim = connection.CreateCommand();
                claim.Transaction = transaction;
                claim.CommandText = "UPDATE alert_delivery SET claimed_until = $until WHERE alert_id = $id AND webhook = $webhook";
                claim.Parameters.AddWithValue("$until", claimUntil.ToUnixTimeMilliseconds());
                claim.Parameters.AddWithValue("$id", delivery.AlertId);
                claim.Parameters.AddWithValue("$webhook", delivery.Webhook);
                claim.ExecuteNonQuery();
            }

            return due;
        }, cancellationToken));

    public async ValueTask RecordAttemptAsync(string alertId, string webhook, DeliveryOutcome outcome, CancellationToken cancellationToken) =>
        await Guarded(() => _connection.WriteAsync((connection, transaction) =>
        {
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = """
                UPDATE alert_delivery
                SET state = $state, attempts = attempts + 1, last_error = COALESCE($error, last_error), claimed_until = 0,
                    next_attempt_at = COALESCE($next, next_attempt_at), delivered_at = $delivered
                WHERE alert_id = $id AND webhook = $webhook AND state = 0
                """;
            command.Parameters.AddWithValue("$state", (int)outcome.State);
            command.Parameters.AddWithValue("$error", (object?)outcome.Error ?? DBNull.Value);
            command.Parameters.AddWithValue("$next", (object?)outcome.NextAttemptAt?.ToUnixTimeMilliseconds() ?? DBNull.Value);
            command.Parameters.AddWithValue("$delivered", outcome.State == DeliveryState.Delivered ? outcome.At.ToUnixTimeMilliseconds() : DBNull.Value);
            command.Parameters.AddWithValue("$id", alertId);
            command.Parameters.AddWithValue("$webhook", webhook);
            return command.ExecuteNonQuery();
        }, cancellationToken));

    public ValueTask<int> PruneAsync(DateTimeOffset firedBefore, CancellationToken cancellationToken) =>
        Guarded(() => _connection.WriteAsync((connection, transaction) =>
        {
            var forgotten = 0;
            foreach (var statement in AlertRows.PruneStatements("$before"))
            {
                using var command = connection.CreateCommand();
                command.Transaction = transaction;
                command.CommandText = statement;
                command.Parameters.AddWithValue("$before", firedBefore.ToUnixTimeMilliseconds());
                forgotten = command.ExecuteNonQuery();
            }

            return forgotten;
        }, cancellationToken));

    public ValueTask<IReadOnlyList<ListedAlert>> ListAsync(bool undeliveredOnly, int limit, CancellationToken cancellationToken) =>
        Guarded(() => _connection.RunAsync<IReadOnlyList<ListedAlert>>(connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = AlertRows.ListSelect + AlertRows.ListWhere(undeliveredOnly, "$limit");
            command.Parameters.AddWithValue("$limit", limit);
            using var reader = command.ExecuteReader();
            var alerts = new List<ListedAlert>();
            while (reader.Read())
            {
                AlertRows.AddListed(alerts, reader);
            }

            return alerts;
        }, cancellationToken));

    /// <summary>
    /// Closes the connection once no operation runs on it: the evaluator or the sender may still be in one when the
    /// container is disposed (a host disposed without being stopped first), and SQLite must not lose its connection
    /// in the middle of a transaction.
    /// </summary>
    public void Dispose()
    {
        Volatile.Write(ref _disposed, 1);
        CloseWhenIdle();
    }

    private async ValueTask<T> Guarded<T>(Func<ValueTask<T>> operation)
    {
        Interlocked.Increment(ref _inFlight);
        try
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) == 1, this);
            return await operation();
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
            CloseWhenIdle();
        }
    }

    private void CloseWhenIdle()
    {
        if (Volatile.Read(ref _disposed) == 1 && Volatile.Read(ref _inFlight) == 0 && Interlocked.Exchange(ref _closed, 1) == 0)
        {
            _connection.Dispose();
        }
    }
}
