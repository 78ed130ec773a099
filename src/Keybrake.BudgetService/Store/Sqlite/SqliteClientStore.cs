using Keybrake.BudgetService.Clients;
using Microsoft.Data.Sqlite;

namespace Keybrake.BudgetService.Store.Sqlite;

/// <summary>
/// Client credentials on their own connection to the budget file, one operation at a time, like
/// <see cref="SqliteKeyStore"/>: operator writes are rare, and the money path reads credentials from memory.
/// </summary>
internal sealed class SqliteClientStore : IClientStore, IDisposable
{
    private readonly SqliteSideConnection _connection;

    public SqliteClientStore(string path)
    {
        _connection = new SqliteSideConnection(path);
    }

    public ValueTask<IReadOnlyList<StoredClient>> ListAsync(CancellationToken cancellationToken) =>
        RunAsync<IReadOnlyList<StoredClient>>(connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = $"SELECT {StoreRows.ClientColumns} FROM client_credential ORDER BY client_id";
            var clients = new List<StoredClient>();
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                clients.Add(StoreRows.Client(reader));
            }

            return clients;
        }, cancellationToken);

    public ValueTask<bool> TryInsertAsync(StoredClient client, CancellationToken cancellationToken) =>
        _connection.WriteAsync((connection, transaction) =>
        {
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = $"""
                INSERT INTO client_credential ({StoreRows.ClientColumns})
                VALUES ($id, $hash, $keys, $source, $created, $revoked, $integrations)
                ON CONFLICT DO NOTHING
                """;
            command.Parameters.AddWithValue("$id", client.ClientId);
            command.Parameters.AddWithValue("$hash", client.TokenSha256);
            command.Parameters.AddWithValue("$keys", StoreRows.KeyIdsText(client.KeyIds));
            command.Parameters.AddWithValue("$source", StoreRows.SourceName(client.Source));
            command.Parameters.AddWithValue("$created", client.CreatedAt.ToUnixTimeMilliseconds());
            command.Parameters.AddWithValue("$revoked", (object?)client.RevokedAt?.ToUnixTimeMilliseconds() ?? DBNull.Value);
            command.Parameters.AddWithValue("$integrations", StoreRows.IntegrationsText(client.Integrations));
            return command.ExecuteNonQuery() == 1;
        }, cancellationToken);

    public ValueTask<bool> RevokeAsync(string clientId, DateTimeOffset now, CancellationToken cancellationToken) =>
        _connection.WriteAsync((connection, transaction) =>
        {
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = "UPDATE client_credential SET revoked_at = COALESCE(revoked_at, $now) WHERE client_id = $id";
            command.Parameters.AddWithValue("$id", clientId);
            command.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
            return command.ExecuteNonQuery() == 1;
        }, cancellationToken);

    public ValueTask<IReadOnlyList<string>> PruneRevokedAsync(DateTimeOffset revokedBefore, CancellationToken cancellationToken) =>
        _connection.WriteAsync<IReadOnlyList<string>>((connection, transaction) =>
        {
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = "DELETE FROM client_credential WHERE source = 'admin' AND revoked_at < $before RETURNING client_id";
            command.Parameters.AddWithValue("$before", revokedBefore.ToUnixTimeMilliseconds());
            var pruned = new List<string>();
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                pruned.Add(reader.GetString(0));
            }

            return pruned;
        }, cancellationToken);

    public void Dispose()
    {
        _connection.Dispose();
    }

    private ValueTask<T> RunAsync<T>(Func<SqliteConnection, T> work, CancellationToken cancellationToken) =>
        _connection.RunAsync(work, cancellationToken);
}
