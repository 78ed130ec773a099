using Microsoft.Data.Sqlite;

namespace Keybrake.BudgetService.Store.Sqlite;

/// <summary>
/// Keys on their own connection to the budget file, one operation at a time. Operator writes are rare; each is
/// one transaction that takes SQLite's write lock for a moment (<see cref="SqliteSideConnection.WriteAsync{T}"/>)
/// and never shares a transaction with the money path: a policy change and the stored key it reads back are one
/// unit, and a failure between them leaves the key as it was.
/// </summary>
internal sealed class SqliteKeyStore : IKeyStore, IDisposable
{
    private readonly SqliteSideConnection _connection;

    public SqliteKeyStore(string path)
    {
        _connection = new SqliteSideConnection(path);
    }

    public ValueTask<IReadOnlyList<StoredKey>> ListAsync(CancellationToken cancellationToken) =>
        RunAsync<IReadOnlyList<StoredKey>>(connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = $"{SelectKey} ORDER BY key_id";
            return ReadAll(command);
        }, cancellationToken);

    public ValueTask<StoredKey?> FindAsync(string keyId, CancellationToken cancellationToken) =>
        RunAsync(connection => Find(connection, keyId), cancellationToken);

    public ValueTask<bool> TryInsertAsync(StoredKey key, CancellationToken cancellationToken) =>
        _connection.WriteAsync((connection, transaction) =>
        {
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = """
                INSERT INTO api_key (key_id, vendor, policy, policy_version, brake_key_sha256, source, created_at, updated_at)
                VALUES ($id, $vendor, $policy, $version, $hash, $source, $created, $updated)
                ON CONFLICT (key_id) DO NOTHING
                """;
            command.Parameters.AddWithValue("$id", key.KeyId);
            command.Parameters.AddWithValue("$vendor", key.Vendor);
            command.Parameters.AddWithValue("$policy", key.Policy);
            command.Parameters.AddWithValue("$version", key.PolicyVersion);
            command.Parameters.AddWithValue("$hash", (object?)key.BrakeKeySha256 ?? DBNull.Value);
            command.Parameters.AddWithValue("$source", StoreRows.SourceName(key.Source));
            command.Parameters.AddWithValue("$created", key.CreatedAt.ToUnixTimeMilliseconds());
            command.Parameters.AddWithValue("$updated", key.UpdatedAt.ToUnixTimeMilliseconds());
            return command.ExecuteNonQuery() == 1;
        }, cancellationToken);

    public ValueTask<StoredKey?> UpdatePolicyAsync(string keyId, byte[] policy, KeySource source, DateTimeOffset now, CancellationToken cancellationToken) =>
        _connection.WriteAsync((connection, transaction) =>
        {
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = """
                UPDATE api_key SET policy = $policy, policy_version = policy_version + 1, source = $source, updated_at = $now
                WHERE key_id = $id AND ($source = 'admin' OR (source = 'configuration' AND policy <> $policy))
                """;
            command.Parameters.AddWithValue("$id", keyId);
            command.Parameters.AddWithValue("$policy", policy);
            command.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
            command.Parameters.AddWithValue("$source", StoreRows.SourceName(source));
            return command.ExecuteNonQuery() == 1 ? Find(connection, keyId, transaction) : null;
        }, cancellationToken);

    public ValueTask<SecretWrite> SetFirstSecretAsync(string keyId, SealedSecret secret, DateTimeOffset now, CancellationToken cancellationToken) =>
        _connection.WriteAsync((connection, transaction) =>
        {
            if (Find(connection, keyId, transaction) is not { } key)
            {
                return new SecretWrite(SecretWriteStatus.NoKey, null);
            }

            if (key.SecretVersion != 0 || secret.Version != 1)
            {
                return new SecretWrite(SecretWriteStatus.Conflict, key);
            }

            Execute(connection, transaction, "DELETE FROM key_secret WHERE key_id = $id", ("$id", keyId));
            InsertSecret(connection, transaction, keyId, secret, now);
            Execute(connection, transaction,
                "UPDATE api_key SET secret_version = $version, secret_set_at = $now, previous_secret_valid_until = NULL, updated_at = $now WHERE key_id = $id",
                ("$id", keyId), ("$version", secret.Version), ("$now", now.ToUnixTimeMilliseconds()));
            return new SecretWrite(SecretWriteStatus.Written, Find(connection, keyId, transaction));
        }, cancellationToken);

    public ValueTask<SecretWrite> RotateSecretAsync(string keyId, SealedSecret secret, DateTimeOffset? previousValidUntil, DateTimeOffset now, CancellationToken cancellationToken) =>
        _connection.WriteAsync((connection, transaction) =>
        {
            if (Find(connection, keyId, transaction) is not { } key)
            {
                return new SecretWrite(SecretWriteStatus.NoKey, null);
            }

            var replaced = key.SecretVersion;
            if (replaced == 0 || secret.Version != replaced + 1)
            {
                return new SecretWrite(SecretWriteStatus.Conflict, key);
            }

            // Only the replaced secret may stay (for its overlap window); any older one goes now.
            var until = previousValidUntil?.ToUnixTimeMilliseconds();
            Execute(connection, transaction, "DELETE FROM key_secret WHERE key_id = $id AND (version <> $replaced OR $until IS NULL)",
                ("$id", keyId), ("$replaced", replaced), ("$until", until));
            Execute(connection, transaction, "UPDATE key_secret SET valid_until = $until WHERE key_id = $id AND version = $replaced",
                ("$id", keyId), ("$replaced", replaced), ("$until", until));
            InsertSecret(connection, transaction, keyId, secret, now);
            Execute(connection, transaction,
                "UPDATE api_key SET secret_version = $version, secret_set_at = $now, previous_secret_valid_until = $until, updated_at = $now WHERE key_id = $id",
                ("$id", keyId), ("$version", secret.Version), ("$now", now.ToUnixTimeMilliseconds()), ("$until", until));
            return new SecretWrite(SecretWriteStatus.Written, Find(connection, keyId, transaction));
        }, cancellationToken);

    public ValueTask<IReadOnlyList<StoredSecret>> ReadSecretsAsync(string keyId, DateTimeOffset now, CancellationToken cancellationToken) =>
        RunAsync<IReadOnlyList<StoredSecret>>(connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = $"SELECT {StoreRows.SecretColumns} FROM key_secret WHERE key_id = $id AND (valid_until IS NULL OR valid_until > $now) ORDER BY version DESC";
            command.Parameters.AddWithValue("$id", keyId);
            command.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
            var secrets = new List<StoredSecret>();
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                secrets.Add(StoreRows.Secret(reader));
            }

            return secrets;
        }, cancellationToken);

    public ValueTask<int> PruneExpiredSecretsAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
        _connection.WriteAsync(
            (connection, transaction) => Execute(connection, transaction, "DELETE FROM key_secret WHERE valid_until IS NOT NULL AND valid_until <= $now", ("$now", now.ToUnixTimeMilliseconds())),
            cancellationToken);

    public ValueTask<IReadOnlyList<string>> ListMasterKeyIdsAsync(CancellationToken cancellationToken) =>
        RunAsync<IReadOnlyList<string>>(connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT DISTINCT master_key_id FROM key_secret ORDER BY master_key_id";
            var ids = new List<string>();
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                ids.Add(reader.GetString(0));
            }

            return ids;
        }, cancellationToken);

    public void Dispose()
    {
        _connection.Dispose();
    }

    private const string SelectKey = $"SELECT {StoreRows.KeyColumns} FROM api_key";

    private static StoredKey? Find(SqliteConnection connection, string keyId, SqliteTransaction? transaction = null)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = $"{SelectKey} WHERE key_id = $id";
        command.Parameters.AddWithValue("$id", keyId);
        return ReadAll(command) is [var key] ? key : null;
    }

    private static void InsertSecret(SqliteConnection connection, SqliteTransaction transaction, string keyId, SealedSecret secret, DateTimeOffset now) =>
        Execute(connection, transaction,
            "INSERT INTO key_secret (key_id, version, master_key_id, sealed, set_at, valid_until) VALUES ($id, $version, $master, $sealed, $now, NULL)",
            ("$id", keyId), ("$version", secret.Version), ("$master", secret.MasterKeyId), ("$sealed", secret.Sealed), ("$now", now.ToUnixTimeMilliseconds()));

    private static int Execute(SqliteConnection connection, SqliteTransaction transaction, string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return command.ExecuteNonQuery();
    }

    private static List<StoredKey> ReadAll(SqliteCommand command)
    {
        var keys = new List<StoredKey>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            keys.Add(StoreRows.Key(reader));
        }

        return keys;
    }

    private ValueTask<T> RunAsync<T>(Func<SqliteConnection, T> work, CancellationToken cancellationToken) =>
        _connection.RunAsync(work, cancellationToken);
}
