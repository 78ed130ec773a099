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

    /// <summary>
    /// Adds the key with its state row (never revoked yet), so every key on PostgreSQL has one; and tells the other
    /// replicas when it commits.
    /// </summary>
    public async ValueTask<bool> TryInsertAsync(StoredKey key, CancellationToken cancellationToken) =>
        await _database.InTransactionAsync(async (connection, transaction) =>
        {
            await using (var command = Command(connection, transaction,
                $"INSERT INTO api_key ({StoreRows.KeyColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (key_id) DO NOTHING",
                Text(key.KeyId), Text(key.Vendor), Bytes(key.Policy), Bigint(key.PolicyVersion), Bytes(key.BrakeKeySha256), Text(StoreRows.SourceName(key.Source)),
                Millis(key.CreatedAt), Millis(key.UpdatedAt)))
            {
                if (await command.ExecuteNonQueryAsync(cancellationToken) != 1)
                {
                    return false;
                }
            }

            await using (var state = Command(connection, transaction,
                "INSERT INTO key_state (key_id, revoked, updated_at) VALUES ($1, false, $2) ON CONFLICT (key_id) DO NOTHING", Text(key.KeyId), Millis(key.CreatedAt)))
            {
                await state.ExecuteNonQueryAsync(cancellationToken);
            }

            await PostgresChanges.NotifyAsync(connection, transaction, PostgresChanges.KeyChanged(key.KeyId), cancellationToken);
            return true;
        }, cancellationToken);

    /// <summary>
    /// One statement: the version bump and the stored key read back cannot interleave with another replica's change.
    /// The configuration's import (<see cref="KeySource.Configuration"/>) changes only a key that still follows the
    /// configuration, decided on the row's newest version: a replica that read the key before an operator changed it
    /// never writes the configured policy over the operator's.
    /// </summary>
    public async ValueTask<StoredKey?> UpdatePolicyAsync(string keyId, byte[] policy, KeySource source, DateTimeOffset now, CancellationToken cancellationToken) =>
        await _database.InTransactionAsync(async (connection, transaction) =>
        {
            StoredKey? updated = null;
            await using (var command = Command(connection, transaction,
                $"""
                UPDATE api_key SET policy = $2, policy_version = policy_version + 1, source = $3, updated_at = $4
                WHERE key_id = $1 AND ($3 = 'admin' OR (source = 'configuration' AND policy <> $2))
                RETURNING {StoreRows.KeyColumns}
                """,
                Text(keyId), Bytes(policy), Text(StoreRows.SourceName(source)), Millis(now)))
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
            {
                if (await reader.ReadAsync(cancellationToken))
                {
                    updated = StoreRows.Key(reader);
                }
            }

            if (updated is not null)
            {
                await PostgresChanges.NotifyAsync(connection, transaction, PostgresChanges.KeyChanged(keyId), cancellationToken);
            }

            return updated;
        }, cancellationToken);

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
