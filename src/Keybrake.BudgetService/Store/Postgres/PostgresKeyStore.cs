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
                "INSERT INTO api_key (key_id, vendor, policy, policy_version, brake_key_sha256, source, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (key_id) DO NOTHING",
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

    /// <summary>Conditional on the key's row, locked for the transaction: two replicas storing a secret at once cannot both win.</summary>
    public async ValueTask<SecretWrite> SetFirstSecretAsync(string keyId, SealedSecret secret, DateTimeOffset now, CancellationToken cancellationToken) =>
        await WriteSecretAsync(keyId, current => current == 0 && secret.Version == 1, secret, null, now, cancellationToken);

    public async ValueTask<SecretWrite> RotateSecretAsync(string keyId, SealedSecret secret, DateTimeOffset? previousValidUntil, DateTimeOffset now, CancellationToken cancellationToken) =>
        await WriteSecretAsync(keyId, current => current > 0 && secret.Version == current + 1, secret, previousValidUntil, now, cancellationToken);

    public async ValueTask<IReadOnlyList<StoredSecret>> ReadSecretsAsync(string keyId, DateTimeOffset now, CancellationToken cancellationToken) =>
        await _database.OnConnectionAsync(async connection =>
        {
            await using var command = Command(connection, null,
                $"SELECT {StoreRows.SecretColumns} FROM key_secret WHERE key_id = $1 AND (valid_until IS NULL OR valid_until > $2) ORDER BY version DESC",
                Text(keyId), Millis(now));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var secrets = new List<StoredSecret>();
            while (await reader.ReadAsync(cancellationToken))
            {
                secrets.Add(StoreRows.Secret(reader));
            }

            return secrets;
        }, cancellationToken);

    public async ValueTask<int> PruneExpiredSecretsAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
        await _database.OnConnectionAsync(async connection =>
        {
            await using var command = Command(connection, null, "DELETE FROM key_secret WHERE valid_until IS NOT NULL AND valid_until <= $1", Millis(now));
            return await command.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);

    public async ValueTask<IReadOnlyList<string>> ListMasterKeyIdsAsync(CancellationToken cancellationToken) =>
        await _database.OnConnectionAsync(async connection =>
        {
            await using var command = Command(connection, null, "SELECT DISTINCT master_key_id FROM key_secret ORDER BY master_key_id");
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var ids = new List<string>();
            while (await reader.ReadAsync(cancellationToken))
            {
                ids.Add(reader.GetString(0));
            }

            return ids;
        }, cancellationToken);

    /// <summary>
    /// Locks the key's row, checks its current secret version with <paramref name="expected"/>, then stores the new
    /// secret, keeps the replaced one until <paramref name="previousValidUntil"/> (or erases it), erases any older one,
    /// and tells the other replicas when it commits.
    /// </summary>
    private async Task<SecretWrite> WriteSecretAsync(string keyId, Func<long, bool> expected, SealedSecret secret, DateTimeOffset? previousValidUntil, DateTimeOffset now, CancellationToken cancellationToken) =>
        await _database.InTransactionAsync(async (connection, transaction) =>
        {
            long current;
            await using (var read = Command(connection, transaction, "SELECT secret_version FROM api_key WHERE key_id = $1 FOR UPDATE", Text(keyId)))
            {
                if (await read.ExecuteScalarAsync(cancellationToken) is not long version)
                {
                    return new SecretWrite(SecretWriteStatus.NoKey, null);
                }

                current = version;
            }

            if (!expected(current))
            {
                return new SecretWrite(SecretWriteStatus.Conflict, null);
            }

            var until = previousValidUntil?.ToUnixTimeMilliseconds();
            var batch = new NpgsqlBatch(connection, transaction)
            {
                BatchCommands =
                {
                    BatchCommand("DELETE FROM key_secret WHERE key_id = $1 AND (version <> $2 OR $3::bigint IS NULL)", Text(keyId), Bigint(current), Bigint(until)),
                    BatchCommand("UPDATE key_secret SET valid_until = $3 WHERE key_id = $1 AND version = $2", Text(keyId), Bigint(current), Bigint(until)),
                    BatchCommand(
                        "INSERT INTO key_secret (key_id, version, master_key_id, sealed, set_at, valid_until) VALUES ($1, $2, $3, $4, $5, NULL)",
                        Text(keyId), Bigint(secret.Version), Text(secret.MasterKeyId), Bytes(secret.Sealed), Millis(now)),
                    BatchCommand(
                        "UPDATE api_key SET secret_version = $2, secret_set_at = $3, previous_secret_valid_until = $4, updated_at = $3 WHERE key_id = $1",
                        Text(keyId), Bigint(secret.Version), Millis(now), Bigint(until)),
                },
            };
            await using (batch)
            {
                await batch.ExecuteNonQueryAsync(cancellationToken);
            }

            StoredKey? written = null;
            await using (var command = Command(connection, transaction, $"SELECT {StoreRows.KeyColumns} FROM api_key WHERE key_id = $1", Text(keyId)))
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
            {
                if (await reader.ReadAsync(cancellationToken))
                {
                    written = StoreRows.Key(reader);
                }
            }

            await PostgresChanges.NotifyAsync(connection, transaction, PostgresChanges.KeyChanged(keyId), cancellationToken);
            return new SecretWrite(SecretWriteStatus.Written, written);
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
