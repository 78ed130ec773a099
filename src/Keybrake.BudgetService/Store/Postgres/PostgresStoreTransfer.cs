using System.Data;
using System.Data.Common;
using Keybrake.BudgetService.Store.Transfer;
using Npgsql;
using NpgsqlTypes;

namespace Keybrake.BudgetService.Store.Postgres;

/// <summary>Export and import on the PostgreSQL database, on a pooled connection of the service's data source.</summary>
internal sealed class PostgresStoreTransfer : StoreTransfer
{
    private readonly PostgresDatabase _database;

    public PostgresStoreTransfer(PostgresDatabase database) => _database = database;

    public override string Description => $"the PostgreSQL budget database {_database.Description}";

    protected override async Task<DbConnection> OpenAsync(CancellationToken cancellationToken) =>
        await _database.DataSource.OpenConnectionAsync(cancellationToken);

    protected override async Task<DbTransaction> BeginSnapshotAsync(DbConnection connection, CancellationToken cancellationToken) =>
        await ((NpgsqlConnection)connection).BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);

    /// <summary>The tables locked against writers (a replica someone left running) until the import commits; readers still read.</summary>
    protected override async Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        var npgsql = (NpgsqlConnection)connection;
        var transaction = await npgsql.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
        await using var command = new NpgsqlCommand(
            $"LOCK TABLE {string.Join(", ", StoreTables.All.Select(table => $"\"{table.Name}\""))} IN EXCLUSIVE MODE", npgsql, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken);
        return transaction;
    }

    /// <summary>
    /// On PostgreSQL every key has its state row from its creation on (see migration 3); a store from SQLite has rows
    /// only for keys that were once revoked or restored.
    /// </summary>
    protected override async Task CompleteImportAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            "INSERT INTO key_state (key_id, revoked, updated_at) SELECT key_id, false, updated_at FROM api_key ON CONFLICT (key_id) DO NOTHING",
            (NpgsqlConnection)connection, (NpgsqlTransaction)transaction);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    protected override string Placeholder(int index) => "$" + (index + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);

    protected override DbParameter Parameter(DbCommand command, int index, ColumnKind kind) =>
        new NpgsqlParameter
        {
            NpgsqlDbType = kind switch
            {
                ColumnKind.Text => NpgsqlDbType.Text,
                ColumnKind.Blob => NpgsqlDbType.Bytea,
                ColumnKind.Boolean => NpgsqlDbType.Boolean,
                _ => NpgsqlDbType.Bigint,
            },
            Value = DBNull.Value,
        };
}
