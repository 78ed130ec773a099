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
            await using var command = Command(connection, null, "SELECT client_id, token_sha256, key_ids, source, created_at, revoked_at FROM client_credential ORDER BY client_id");
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var clients = new List<StoredClient>();
            while (await reader.ReadAsync(cancellationToken))
            {
                clients.Add(new StoredClient(
                    reader.GetString(0),
                    (byte[])reader.GetValue(1),
                    reader.GetString(2).Split('\n', StringSplitOptions.RemoveEmptyEntries),
                    reader.GetString(3) == "configuration" ? ClientSource.Configuration : ClientSource.Admin,
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4)),
                    reader.IsDBNull(5) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5))));
            }

            return clients;
        }, cancellationToken);

    /// <summary><c>ON CONFLICT DO NOTHING</c> without a target: a taken client id and a taken token hash both insert nothing.</summary>
    public async ValueTask<bool> TryInsertAsync(StoredClient client, CancellationToken cancellationToken) =>
        await _database.OnConnectionAsync(async connection =>
        {
            await using var command = Command(connection, null,
                """
                INSERT INTO client_credential (client_id, token_sha256, key_ids, source, created_at, revoked_at)
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT DO NOTHING
                """,
                Text(client.ClientId), Bytes(client.TokenSha256), Text(string.Join('\n', client.KeyIds)),
                Text(client.Source == ClientSource.Configuration ? "configuration" : "admin"), Millis(client.CreatedAt), Bigint(client.RevokedAt?.ToUnixTimeMilliseconds()));
            return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
        }, cancellationToken);

    public async ValueTask<bool> RevokeAsync(string clientId, DateTimeOffset now, CancellationToken cancellationToken) =>
        await _database.OnConnectionAsync(async connection =>
        {
            await using var command = Command(connection, null,
                "UPDATE client_credential SET revoked_at = COALESCE(revoked_at, $2) WHERE client_id = $1", Text(clientId), Millis(now));
            return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
        }, cancellationToken);
}
