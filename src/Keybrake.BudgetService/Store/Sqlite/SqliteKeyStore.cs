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
