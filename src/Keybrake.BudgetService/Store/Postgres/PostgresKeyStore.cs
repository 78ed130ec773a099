using Npgsql;
using static Keybrake.BudgetService.Store.Postgres.PostgresSql;

namespace Keybrake.BudgetService.Store.Postgres;

/// <summary>Keys and policies on PostgreSQL. Every write is one conditional statement, so replicas never overwrite each other's version bump.</summary>
internal sealed class PostgresKeyStore : IKeyStore
{
    private readonly PostgresDatabase _database;

    public PostgresKeyStore(PostgresDatabase database) => _database = database;

    public async ValueTask<IReadOnlyList<StoredKey>> ListAsync(CancellationToken cancellationToken) =>
        await ReadAsync($"SELECT {StoreRows.KeyColumns} FROM api_key ORDER BY key_id", cancellationToken);

    public async ValueTask<StoredKey?> FindAsync(string keyId, CancellationToken cancellationToken) =>
        await ReadAsync($"SELECT {StoreRows.KeyColumns} FROM api_key WHERE key_id = $1", cancellationToken, Text(keyId)) is [var key] ? key : null;

    public async ValueTask<bool> TryInsertAsync(StoredKey key, CancellationToken cancellationToken) =>
        await _database.OnConnectionAsync(async connection =>
        {
            await using var command = Command(connection, null,
                $"INSERT INTO api_key ({StoreRows.KeyColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (key_id) DO NOTHING",
                Text(key.KeyId), Text(key.Vendor), Bytes(key.Policy), Bigint(key.PolicyVersion), Bytes(key.BrakeKeySha256), Text(StoreRows.SourceName(key.Source)),
                Millis(key.CreatedAt), Millis(key.UpdatedAt));
            return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
        }, cancellationToken);

    /// <summary>One statement: the version bump and the stored key read back cannot interleave with another replica's change.</summary>
    public async ValueTask<StoredKey?> UpdatePolicyAsync(string keyId, byte[] policy, KeySource source, DateTimeOffset now, CancellationToken cancellationToken) =>
        await ReadAsync(
            $"UPDATE api_key SET policy = $2, policy_version = policy_version + 1, source = $3, updated_at = $4 WHERE key_id = $1 RETURNING {StoreRows.KeyColumns}",
            cancellationToken, Text(keyId), Bytes(policy), Text(StoreRows.SourceName(source)), Millis(now)) is [var key] ? key : null;

    private Task<List<StoredKey>> ReadAsync(string sql, CancellationToken cancellationToken, params NpgsqlParameter[] parameters) =>
        _database.OnConnectionAsync(async connection =>
        {
            await using var command = Command(connection, null, sql, parameters);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var keys = new List<StoredKey>();
            while (await reader.ReadAsync(cancellationToken))
            {
                keys.Add(StoreRows.Key(reader));
            }

            return keys;
        }, cancellationToken);
}
