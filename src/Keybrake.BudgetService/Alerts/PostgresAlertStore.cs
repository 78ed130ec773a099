using Keybrake.BudgetService.Store.Postgres;
using static Keybrake.BudgetService.Store.Postgres.PostgresSql;

namespace Keybrake.BudgetService.Alerts;

/// <summary>
/// Alerts on PostgreSQL, shared by the replicas: the unique dedupe key makes one replica's insert win, and a delivery is
/// claimed (<c>FOR UPDATE SKIP LOCKED</c>, then a claim time) by one replica before it is sent.
/// </summary>
internal sealed class PostgresAlertStore : IAlertStore
{
    private readonly PostgresDatabase _database;

    public PostgresAlertStore(PostgresDatabase database) => _database = database;

    public async ValueTask<bool> TryFireAsync(StoredAlert alert, IReadOnlyList<string> webhooks, CancellationToken cancellationToken) =>
        await _database.InTransactionAsync(async (connection, transaction) =>
        {
            await using var insert = Command(connection, transaction,
                $"""
                INSERT INTO alert ({AlertRows.AlertColumns})
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                ON CONFLICT DO NOTHING
                """,
                Text(alert.AlertId), Text(alert.DedupeKey), Text(alert.Type), Text(alert.KeyId), Text(alert.Scope), Text(alert.Window),
                Bigint(alert.ThresholdPercent), Text(alert.Message), Text(alert.Payload), Millis(alert.CreatedAt));
            if (await insert.ExecuteNonQueryAsync(cancellationToken) != 1)
            {
                return false;
            }

            foreach (var webhook in webhooks)
            {
                await using var delivery = Command(connection, transaction,
                    "INSERT INTO alert_delivery (alert_id, webhook, state, next_attempt_at) VALUES ($1, $2, 0, $3)",
                    Text(alert.AlertId), Text(webhook), Millis(alert.CreatedAt));
                await delivery.ExecuteNonQueryAsync(cancellationToken);
            }

            return true;
        }, cancellationToken);

    public async ValueTask<IReadOnlyList<DueDelivery>> ClaimDueAsync(DateTimeOffset now, DateTimeOffset claimUntil, int limit, CancellationToken cancellationToken) =>
        await _database.InTransactionAsync<IReadOnlyList<DueDelivery>>(async (connection, transaction) =>
        {
            // SKIP LOCKED: a replica claiming at the same moment takes other rows, and never the same one.
            await using var command = Command(connection, transaction,
                """
                UPDATE alert_delivery d SET claimed_until = $2
                FROM alert a
                WHERE a.alert_id = d.alert_id AND (d.alert_id, d.webhook) IN (
                    SELECT alert_id, webhook FROM alert_delivery
                    WHERE state = 0 AND next_attempt_at <= $1 AND claimed_until <= $1
                    ORDER BY next_attempt_at LIMIT $3
                    FOR UPDATE SKIP LOCKED)
                RETURNING d.alert_id, d.webhook, d.attempts, a.message, a.payload, a.created_at
                """,
                Millis(now), Millis(claimUntil), Bigint(limit));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var due = new List<DueDelivery>();
            while (await reader.ReadAsync(cancellationToken))
            {
                due.Add(new DueDelivery(reader.GetString(0), reader.GetString(1), (int)reader.GetInt64(2), reader.GetString(3), reader.GetString(4),
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5))));
            }

            return due;
        }, cancellationToken);

    public async ValueTask RecordAttemptAsync(string alertId, string webhook, DeliveryOutcome outcome, CancellationToken cancellationToken) =>
        await _database.OnConnectionAsync(async connection =>
        {
            await using var command = Command(connection, null,
                """
                UPDATE alert_delivery
                SET state = $3, attempts = attempts + 1, last_error = COALESCE($4, last_error), claimed_until = 0,
                    next_attempt_at = COALESCE($5, next_attempt_at), delivered_at = $6
                WHERE alert_id = $1 AND webhook = $2 AND state = 0
                """,
                Text(alertId), Text(webhook), Smallint((short)outcome.State), Text(outcome.Error), Bigint(outcome.NextAttemptAt?.ToUnixTimeMilliseconds()),
                Bigint(outcome.State == DeliveryState.Delivered ? outcome.At.ToUnixTimeMilliseconds() : null));
            return await command.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);

    public async ValueTask<int> PruneAsync(DateTimeOffset firedBefore, CancellationToken cancellationToken) =>
        await _database.InTransactionAsync(async (connection, transaction) =>
        {
            var forgotten = 0;
            foreach (var statement in AlertRows.PruneStatements("$1"))
            {
                await using var command = Command(connection, transaction, statement, Millis(firedBefore));
                forgotten = await command.ExecuteNonQueryAsync(cancellationToken);
            }

            return forgotten;
        }, cancellationToken);

    public async ValueTask<IReadOnlyList<ListedAlert>> ListAsync(bool undeliveredOnly, int limit, CancellationToken cancellationToken) =>
        await _database.OnConnectionAsync<IReadOnlyList<ListedAlert>>(async connection =>
        {
            await using var command = Command(connection, null, AlertRows.ListSelect + AlertRows.ListWhere(undeliveredOnly, "$1"), Bigint(limit));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var alerts = new List<ListedAlert>();
            while (await reader.ReadAsync(cancellationToken))
            {
                AlertRows.AddListed(alerts, reader);
            }

            return alerts;
        }, cancellationToken);
}
