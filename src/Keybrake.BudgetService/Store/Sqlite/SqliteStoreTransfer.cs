using System.Data.Common;
using Keybrake.BudgetService.Store.Transfer;
using Microsoft.Data.Sqlite;

namespace Keybrake.BudgetService.Store.Sqlite;

/// <summary>Export and import on the SQLite file, on a connection of its own.</summary>
internal sealed class SqliteStoreTransfer : StoreTransfer
{
    private readonly string _path;

    public SqliteStoreTransfer(string path)
    {
        _path = Path.GetFullPath(path);
    }

    public override string Description => $"the SQLite budget database {_path}";

    /// <summary>An export from a file that is not there would create an empty one: refused instead.</summary>
    public override void CheckSource()
    {
        if (!File.Exists(_path))
        {
            throw new StoreTransferException($"{Description} does not exist: set BudgetService:StoragePath to the file the service used");
        }
    }

    protected override async Task<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = _path,
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = false,
            DefaultTimeout = 30,
        }.ToString());
        await connection.OpenAsync(cancellationToken);
        return connection;
    }

    // A deferred transaction reads one snapshot of the WAL from its first read to its end.
    protected override Task<DbTransaction> BeginSnapshotAsync(DbConnection connection, CancellationToken cancellationToken) =>
        Task.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: true));

    // BEGIN IMMEDIATE: the write lock from the start, so the emptiness check and the rows written are one unit.
    protected override Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken) =>
        Task.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: false));

    protected override string Placeholder(int index) => "$p" + index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    protected override DbParameter Parameter(DbCommand command, int index, ColumnKind kind) =>
        new SqliteParameter(Placeholder(index), kind switch
        {
            ColumnKind.Text => SqliteType.Text,
            ColumnKind.Blob => SqliteType.Blob,
            _ => SqliteType.Integer,
        });

    protected override object ToDatabase(ColumnKind kind, object value) =>
        value is bool flag ? (flag ? 1L : 0L) : value;
}
