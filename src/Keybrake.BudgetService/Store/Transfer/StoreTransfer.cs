using System.Data.Common;

namespace Keybrake.BudgetService.Store.Transfer;

/// <summary>
/// Reads every row of a store, or writes rows into one, in one transaction: the engine-neutral half of
/// <c>export</c> and <c>import</c> (ADO.NET on either engine); each engine supplies its connection, its transactions and
/// its parameter types. Both sides must be migrated to the code's schema first (the store's own migration step).
/// </summary>
internal abstract class StoreTransfer
{
    /// <summary>What the store is, for an operator: engine and place, never a credential.</summary>
    public abstract string Description { get; }

    /// <summary>Throws a one-line <see cref="StoreTransferException"/> when there is nothing to export from (a SQLite file that does not exist).</summary>
    public virtual void CheckSource()
    {
    }

    /// <summary>Hands every row to <paramref name="write"/>, table by table, from one consistent snapshot; returns the rows per table.</summary>
    public async Task<IReadOnlyDictionary<StoreTable, int>> ExportAsync(Func<StoreTable, object?[], ValueTask> write, CancellationToken cancellationToken)
    {
        var counts = new Dictionary<StoreTable, int>();
        await using var connection = await OpenAsync(cancellationToken);
        await using var transaction = await BeginSnapshotAsync(connection, cancellationToken);
        foreach (var table in StoreTables.All)
        {
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = $"SELECT {StoreTables.ColumnList(table)} FROM \"{table.Name}\"";
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var count = 0;
            while (await reader.ReadAsync(cancellationToken))
            {
                var row = new object?[table.Columns.Count];
                for (var i = 0; i < row.Length; i++)
                {
                    row[i] = Read(reader, i, table.Columns[i].Kind);
                }

                await write(table, row);
                count++;
            }

            counts[table] = count;
        }

        await transaction.CommitAsync(cancellationToken);
        return counts;
    }

    /// <summary>
    /// Writes <paramref name="rows"/> in one transaction: all of them, or (on any failure, a bad dump line included) none.
    /// A store that holds anything is refused unless <paramref name="replace"/>, which deletes what it holds first.
    /// </summary>
    public async Task<IReadOnlyDictionary<StoreTable, int>> ImportAsync(IAsyncEnumerable<(StoreTable Table, object?[] Row)> rows, bool replace, CancellationToken cancellationToken)
    {
        var counts = StoreTables.All.ToDictionary(table => table, _ => 0);
        await using var connection = await OpenAsync(cancellationToken);
        await using var transaction = await BeginWriteAsync(connection, cancellationToken);
        var holding = await TablesWithRowsAsync(connection, transaction, cancellationToken);
        if (holding.Count > 0)
        {
            if (!replace)
            {
                throw new StoreTransferException(
                    $"{Description} already holds data ({string.Join(", ", holding.Select(table => table.Label))}): import into an empty store, or add --replace to delete what it holds first");
            }

            foreach (var table in StoreTables.All)
            {
                await ExecuteAsync(connection, transaction, $"DELETE FROM \"{table.Name}\"", cancellationToken);
            }
        }

        var inserts = new Dictionary<StoreTable, DbCommand>();
        try
        {
            await foreach (var (table, row) in rows.WithCancellation(cancellationToken))
            {
                if (!inserts.TryGetValue(table, out var insert))
                {
                    insert = connection.CreateCommand();
                    insert.Transaction = transaction;
                    insert.CommandText = $"INSERT INTO \"{table.Name}\" ({StoreTables.ColumnList(table)}) VALUES ({string.Join(", ", table.Columns.Select((_, i) => Placeholder(i)))})";
                    for (var i = 0; i < table.Columns.Count; i++)
                    {
                        insert.Parameters.Add(Parameter(insert, i, table.Columns[i].Kind));
                    }

                    await insert.PrepareAsync(cancellationToken);
                    inserts[table] = insert;
                }

                for (var i = 0; i < row.Length; i++)
                {
                    insert.Parameters[i].Value = row[i] is { } value ? ToDatabase(table.Columns[i].Kind, value) : DBNull.Value;
                }

                await insert.ExecuteNonQueryAsync(cancellationToken);
                counts[table]++;
            }

            await CompleteImportAsync(connection, transaction, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
        finally
        {
            foreach (var insert in inserts.Values)
            {
                await insert.DisposeAsync();
            }
        }

        return counts;
    }

    /// <summary>The tables that hold at least one row.</summary>
    public async Task<IReadOnlyList<StoreTable>> TablesWithRowsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var transaction = await BeginSnapshotAsync(connection, cancellationToken);
        return await TablesWithRowsAsync(connection, transaction, cancellationToken);
    }

    protected abstract Task<DbConnection> OpenAsync(CancellationToken cancellationToken);

    /// <summary>A read-only transaction whose reads all see one moment of the store.</summary>
    protected abstract Task<DbTransaction> BeginSnapshotAsync(DbConnection connection, CancellationToken cancellationToken);

    /// <summary>A transaction that keeps every other writer out until it ends.</summary>
    protected abstract Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken);

    /// <summary>The <paramref name="index"/>th parameter's placeholder in SQL.</summary>
    protected abstract string Placeholder(int index);

    /// <summary>Brings imported rows to what this engine keeps beside them, in the import's transaction, before it commits.</summary>
    protected virtual Task CompleteImportAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>A parameter for a column of <paramref name="kind"/>, typed so that a null still has a type.</summary>
    protected abstract DbParameter Parameter(DbCommand command, int index, ColumnKind kind);

    /// <summary>A value as the engine stores it (a boolean as 0/1 on SQLite).</summary>
    protected virtual object ToDatabase(ColumnKind kind, object value) => value;

    /// <summary>A stored value in the neutral shape: string, long, byte[] or bool (either engine's integer booleans read as bool).</summary>
    private static object? Read(DbDataReader reader, int ordinal, ColumnKind kind)
    {
        if (reader.IsDBNull(ordinal))
        {
            return null;
        }

        var value = reader.GetValue(ordinal);
        return kind switch
        {
            ColumnKind.Text => (string)value,
            ColumnKind.Integer => Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture),
            ColumnKind.Blob => (byte[])value,
            ColumnKind.Boolean => value is bool flag ? flag : Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture) != 0,
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
    }

    private static async Task<List<StoreTable>> TablesWithRowsAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken)
    {
        var holding = new List<StoreTable>();
        foreach (var table in StoreTables.All)
        {
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = $"SELECT 1 FROM \"{table.Name}\" LIMIT 1";
            if (await command.ExecuteScalarAsync(cancellationToken) is not null)
            {
                holding.Add(table);
            }
        }

        return holding;
    }

    private static async Task ExecuteAsync(DbConnection connection, DbTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}

/// <summary>An export or import that cannot go on, in one line an operator can act on; nothing was written.</summary>
internal sealed class StoreTransferException(string message, Exception? inner = null) : Exception(message, inner);
