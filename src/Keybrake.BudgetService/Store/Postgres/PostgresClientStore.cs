using Keybrake.BudgetService.Clients;
using static Keybrake.BudgetService.Store.Postgres.PostgresSql;

namespace Keybrake.BudgetService.Store.Postgres;

/// <summary>Client credentials on PostgreSQL: only a hash of each token, as on SQLite.</summary>
internal sealed class PostgresClientStore : IClientStore
{
    private readonly PostgresDatabase _database;

    public PostgresClientStore(PostgresDatabase database) => _database = database;

    public async ValueTask<IReadOnlyList<StoredClient>> ListAsync(CancellationToken cancellationToken) =>
        await _database.OnConnectionAsync<IReadOnlyList<StoredClient>>(async connection =>
        {
            await using var command = Command(connection, null, $"SELECT {StoreRows.ClientColumns} FROM client_credential ORDER BY client_id");
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var clients = new List<StoredClient>();
            while (await reader.ReadAsync(cancellationToken))
            {
                clients.Add(StoreRows.Client(reader));
            }

            return clients;
        }, cancellationToken);

    /// <summary><c>ON CONFLICT DO NOTHING</c> without a target: a taken client id and a taken token hash both insert nothing.</summary>
    public async ValueTask<bool> TryInsertAsync(StoredClient client, CancellationToken cancellationToken) =>
        await _database.InTransactionAsync(async (connection, transaction) =>
        {
            await using var command = Command(connection, transaction,
                $"""
                INSERT INTO client_credential ({StoreRows.ClientColumns})
                VALUES ($1, $2, $3, $4, $5, $6, $7)
                ON CONFLICT DO NOTHING
                """,
                Text(client.ClientId), Bytes(client.TokenSha256), Text(StoreRows.KeyIdsText(client.KeyIds)),
                Text(StoreRows.SourceName(client.Source)), Millis(client.CreatedAt), Bigint(client.RevokedAt?.ToUnixTimeMilliseconds()),
                Text(StoreRows.IntegrationsText(client.Integrations)));
            return await command.ExecuteNonQueryAsync(cancellationToken) == 1 && await NotifiedAsync(connection, transaction, client.ClientId, cancellationToken);
        }, cancellationToken);

    public async ValueTask<bool> RevokeAsync(string clientId, DateTimeOffset now, CancellationToken cancellationToken) =>
        await _database.InTransactionAsync(async (connection, transaction) =>
        {
            await using var command = Command(connection, transaction,
                "UPDATE client_credential SET revoked_at = COALESCE(revoked_at, $2) WHERE client_id = $1", Text(clientId), Millis(now));
            return await command.ExecuteNonQueryAsync(cancellationToken) == 1 && await NotifiedAsync(connection, transaction, clientId, cancellationToken);
        }, cancellationToken);

    public async ValueTask<IReadOnlyList<string>> PruneRevokedAsync(DateTimeOffset revokedBefore, CancellationToken cancellationToken) =>
        await _database.OnConnectionAsync<IReadOnlyList<string>>(async connection =>
        {
            await using var command = Command(connection, null,
                "DELETE FROM client_credential WHERE source = 'admin' AND revoked_at < $1 RETURNING client_id", Millis(revokedBefore));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var pruned = new List<string>();
            while (await reader.ReadAsync(cancellationToken))
            {
                pruned.Add(reader.GetString(0));
            }

            return pruned;
        }, cancellationToken);

    /// <summary>Tells the other replicas, when the transaction commits, that the credential changed; always true.</summary>
    private static async Task<bool> NotifiedAsync(Npgsql.NpgsqlConnection connection, Npgsql.NpgsqlTransaction transaction, string clientId, CancellationToken cancellationToken)
    {
        await PostgresChanges.NotifyAsync(connection, transaction, PostgresChanges.ClientChanged(clientId), cancellationToken);
        return true;
    }
}
