using System.Data;
using Keybrake.BudgetService.Hosting;
using Npgsql;

namespace Keybrake.BudgetService.Store.Postgres;

/// <summary>
/// The PostgreSQL database the stores share: one <see cref="NpgsqlDataSource"/> (a connection pool) per service
/// process, and the transaction runner every write goes through.
/// </summary>
/// <remarks>
/// Every transaction runs at READ COMMITTED. The money path never decides on a value it read earlier: each counter
/// changes in one conditional statement (<c>... WHERE settled + reserved + estimate &lt;= cap</c>) that takes the
/// row's lock and evaluates its condition on the newest committed version, so caps hold across any number of
/// writers without SERIALIZABLE's aborts and retries under contention on one hot key. Rows are locked in one order
/// (the key's advisory lock, shared, see KeyLock; then reservation, day counter, run counter), so two transactions never wait on each other in a circle;
/// should PostgreSQL still report a deadlock or a serialization failure, the transaction is run again, a bounded
/// number of times.
/// </remarks>
internal sealed class PostgresDatabase : IAsyncDisposable
{
    private const int Attempts = 5;

    private readonly ILogger<PostgresDatabase> _logger;

    public PostgresDatabase(string connectionString, ILoggerFactory loggers)
    {
        _logger = loggers.CreateLogger<PostgresDatabase>();
        NpgsqlDataSourceBuilder builder;
        try
        {
            builder = new NpgsqlDataSourceBuilder(connectionString);
        }
        catch (ArgumentException exception)
        {
            // Npgsql names the keyword it refuses, never a value: the message is safe to print.
            throw new ServiceStartException($"ConnectionStrings:Keybrake is not a valid PostgreSQL connection string: {ServiceStartException.Reason(exception)}.", exception);
        }

        var settings = builder.ConnectionStringBuilder;

        // Prepared statements: Npgsql prepares each statement the store sends, on each pooled connection, from its
        // first use, and keeps it across the pool's reuse of the connection.
        if (settings.MaxAutoPrepare == 0)
        {
            settings.MaxAutoPrepare = 64;
            settings.AutoPrepareMinUsages = 1;
        }

        // Never hand the password back in the connection string an exception or a log might show.
        settings.PersistSecurityInfo = false;
        Description = $"{settings.Host ?? "localhost"}:{settings.Port}/{settings.Database ?? settings.Username ?? "(default)"}";
        // Npgsql logs through the service's logging (connections, errors); never parameter values, which stay off.
        builder.UseLoggerFactory(loggers);
        DataSource = builder.Build();

        // The connection that LISTENs for the other replicas' changes: its own, never pooled (a broken one must not be
        // handed out again), named so that an operator sees whose it is in pg_stat_activity, and kept alive so that a
        // connection that died without a word (a server or a network gone) is noticed within seconds, not hours.
        ReplicaName = "keybrake-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4));
        var listen = new NpgsqlConnectionStringBuilder(connectionString)
        {
            Pooling = false,
            ApplicationName = ListenerName,
            TcpKeepAlive = true,
            TcpKeepAliveTime = 10,
            TcpKeepAliveInterval = 2,
            PersistSecurityInfo = false,
        };
        if (listen.KeepAlive == 0)
        {
            listen.KeepAlive = 5;
        }

        ListenDataSource = new NpgsqlDataSourceBuilder(listen.ConnectionString).UseLoggerFactory(loggers).Build();
    }

    /// <summary>This process among the replicas: in its LISTEN connection's <c>application_name</c> and in the duties it claims.</summary>
    public string ReplicaName { get; }

    /// <summary>The <c>application_name</c> of this replica's LISTEN connection.</summary>
    public string ListenerName => ReplicaName + "-listen";

    /// <summary>Where the LISTEN connection comes from (<see cref="Replicas.PostgresChangeListener"/>).</summary>
    public NpgsqlDataSource ListenDataSource { get; }

    /// <summary>Where the database is (host, port and database, never the credentials), for logs and messages.</summary>
    public string Description { get; }

    public NpgsqlDataSource DataSource { get; }

    /// <summary>
    /// Runs <paramref name="work"/> in a READ COMMITTED transaction and commits it, unless <paramref name="commitIf"/> says
    /// the result changed nothing that should last (a call that did not fit: its reservation row is rolled back). A
    /// deadlock or serialization failure runs it again, up to <see cref="Attempts"/> times.
    /// </summary>
    public async Task<T> InTransactionAsync<T>(Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work, CancellationToken cancellationToken, Func<T, bool>? commitIf = null)
    {
        for (var attempt = 1; ; attempt++)
        {
            await using var connection = await DataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
            try
            {
                var result = await work(connection, transaction);
                if (commitIf is null || commitIf(result))
                {
                    await transaction.CommitAsync(cancellationToken);
                }
                else
                {
                    await transaction.RollbackAsync(cancellationToken);
                }

                return result;
            }
            catch (PostgresException exception) when (exception.SqlState is PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected && attempt < Attempts)
            {
                Log.TransactionRetried(_logger, exception.SqlState, attempt);
            }
            catch (RetryTransactionException) when (attempt < Attempts)
            {
                // a row the transaction relied on went away meanwhile (pruned): read again from the start
            }
        }
    }

    /// <summary>Runs one statement outside a transaction, on a pooled connection.</summary>
    public async Task<T> OnConnectionAsync<T>(Func<NpgsqlConnection, Task<T>> work, CancellationToken cancellationToken)
    {
        await using var connection = await DataSource.OpenConnectionAsync(cancellationToken);
        return await work(connection);
    }

    public async ValueTask DisposeAsync()
    {
        await ListenDataSource.DisposeAsync();
        await DataSource.DisposeAsync();
    }
}

/// <summary>Thrown inside a transaction to have <see cref="PostgresDatabase.InTransactionAsync{T}"/> run it again.</summary>
internal sealed class RetryTransactionException : Exception
{
    public RetryTransactionException()
        : base("The transaction saw a row vanish between two of its statements; it runs again.")
    {
    }
}
