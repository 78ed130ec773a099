using Microsoft.Data.Sqlite;

namespace Keybrake.BudgetService.Store.Sqlite;

/// <summary>
/// A connection of its own to the budget file, one operation at a time, for the stores whose writes are rare
/// (keys, client credentials): they never share a transaction with the money path's worker.
/// </summary>
internal sealed class SqliteSideConnection : IDisposable
{
    private readonly string _connectionString;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private SqliteConnection? _connection;

    public SqliteSideConnection(string path)
    {
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = Path.GetFullPath(path),
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = false,
            DefaultTimeout = 30,
        }.ToString();
    }

    /// <summary>
    /// Runs a write in a transaction that holds SQLite's write lock from its start (<c>BEGIN IMMEDIATE</c>, waiting up to
    /// the busy timeout behind the money path's group commits): every statement of it lasts, or (when anything in it
    /// throws) none does. Each command must carry the transaction it is given.
    /// </summary>
    public ValueTask<T> WriteAsync<T>(Func<SqliteConnection, SqliteTransaction, T> work, CancellationToken cancellationToken) =>
        RunAsync(
            connection =>
            {
                using var transaction = connection.BeginTransaction(deferred: false);
                var result = work(connection, transaction);
                transaction.Commit();
                return result;
            },
            cancellationToken);

    public async ValueTask<T> RunAsync<T>(Func<SqliteConnection, T> work, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_connection is null)
            {
                // Opened on first use: the budget store has created the file and its schema by then.
                var connection = new SqliteConnection(_connectionString);
                connection.Open();
                _connection = connection;
            }

            return work(_connection);
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose()
    {
        _connection?.Dispose();
        _gate.Dispose();
    }
}
