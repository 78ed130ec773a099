using Microsoft.Data.Sqlite;

namespace Keybrake.BudgetService.Store.Sqlite;

/// <summary>
/// Runs every store operation on one connection, in batches: one transaction for whatever has queued up
/// while the previous batch committed (group commit). SQLite allows one writer at a time anyway; batching
/// turns many small transactions into few, which is where SQLite's cost per transaction goes.
/// </summary>
/// <remarks>
/// <para>
/// Flat combining, not a dedicated thread: the caller that finds the store idle runs the batch itself, on
/// its own thread, and goes on running whatever queued up meanwhile; the others queue and are completed by
/// it. A lone caller so never waits for a thread to wake, and under load one thread commits for many.
/// Queueing and the hand-over happen under one lock, so an operation queued just as the combiner finds the
/// queue empty is never left behind: either the combiner sees it, or its caller becomes the next combiner.
/// After a few batches the combiner hands the work to the thread pool, so its own caller is not kept waiting.
/// </para>
/// <para>
/// Operations run without savepoints (each would cost as much as a small statement); if one throws, the
/// batch rolls back and its operations run again one transaction each, so the one that fails fails alone.
/// </para>
/// </remarks>
internal sealed class SqliteWorker : IAsyncDisposable
{
    /// <summary>Batches a caller runs before handing over: its own, and what queued while it ran.</summary>
    private const int CallerBatches = 2;

    /// <summary>Batches a thread-pool combiner runs before yielding its thread to other work.</summary>
    private const int PoolBatches = 16;

    private readonly Lock _gate = new();
    private readonly SqliteConnection _connection;
    private readonly ILogger _logger;
    private List<Operation> _queued = [];
    private List<Operation> _spare = [];
    private bool _combining;
    private bool _closed;
    private TaskCompletionSource? _stopped;

    public SqliteWorker(SqliteConnection connection, ILogger logger)
    {
        _connection = connection;
        _logger = logger;
        Commands = new SqliteCommands(connection);
    }

    /// <summary>Prepared commands on the worker's connection; only operations running on the worker may use them.</summary>
    public SqliteCommands Commands { get; }

    /// <summary>Runs an operation in the next batch; completes when its batch has committed.</summary>
    public Task<T> RunAsync<T>(Func<SqliteCommands, T> work, CancellationToken cancellationToken)
    {
        var operation = new Operation<T>(work, cancellationToken);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            _queued.Add(operation);
            if (_combining)
            {
                return operation.Completion; // the running combiner will take it
            }

            _combining = true;
        }

        Combine(CallerBatches);
        return operation.Completion;
    }

    public async ValueTask DisposeAsync()
    {
        Task? stopped = null;
        lock (_gate)
        {
            _closed = true;
            if (_combining)
            {
                _stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                stopped = _stopped.Task;
            }
        }

        // Operations already queued still run: their callers were promised a commit or an exception.
        if (stopped is not null)
        {
            await stopped.ConfigureAwait(false);
        }

        Commands.Dispose();
        await _connection.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Runs batches until the queue is empty (then stops combining) or <paramref name="batches"/> are done (then hands over).</summary>
    private void Combine(int batches)
    {
        while (true)
        {
            List<Operation> batch;
            lock (_gate)
            {
                if (_queued.Count == 0)
                {
                    _combining = false;
                    _stopped?.TrySetResult();
                    return;
                }

                if (batches-- == 0)
                {
                    // Still combining, on a pool thread now: no operation is left without a combiner.
                    ThreadPool.UnsafeQueueUserWorkItem(static worker => worker.Combine(PoolBatches), this, preferLocal: false);
                    return;
                }

                batch = _queued;
                _queued = _spare;
            }

            RunBatch(batch);
            batch.Clear();
            _spare = batch; // only the combiner touches the spare list
        }
    }

    private void RunBatch(List<Operation> batch)
    {
        if (TryRunTogether(batch))
        {
            foreach (var operation in batch)
            {
                operation.Publish();
            }

            return;
        }

        // Something in the batch threw: nothing of it happened. Each operation runs again in a transaction of
        // its own, so the one that fails fails alone and the others commit, as if they had never met.
        foreach (var operation in batch)
        {
            RunAlone(operation);
        }
    }

    /// <summary>The whole batch in one transaction, no savepoints; false (and rolled back) if anything threw.</summary>
    private bool TryRunTogether(List<Operation> batch)
    {
        SqliteTransaction? transaction = null;
        try
        {
            transaction = _connection.BeginTransaction(deferred: false);
            Commands.Transaction = transaction;
            foreach (var operation in batch)
            {
                operation.Run(Commands);
            }

            transaction.Commit();
            return true;
        }
        catch (Exception exception)
        {
            Log.BatchRetriedAlone(_logger, batch.Count, exception.Message);
            Rollback(transaction);
            return false;
        }
        finally
        {
            Commands.Transaction = null;
            transaction?.Dispose();
        }
    }

    private void RunAlone(Operation operation)
    {
        SqliteTransaction? transaction = null;
        try
        {
            transaction = _connection.BeginTransaction(deferred: false);
            Commands.Transaction = transaction;
            operation.Run(Commands);
            transaction.Commit();
            operation.Publish();
        }
        catch (Exception exception)
        {
            // This operation alone is undone and its caller gets the exception; the worker carries on, or
            // every caller after it would wait forever.
            Rollback(transaction);
            operation.Fail(exception);
        }
        finally
        {
            Commands.Transaction = null;
            transaction?.Dispose();
        }
    }

    private void Rollback(SqliteTransaction? transaction)
    {
        try
        {
            transaction?.Rollback();
        }
        catch (Exception exception) when (exception is SqliteException or InvalidOperationException)
        {
            // SQLite may have rolled back already (an I/O error or a full disk ends the transaction itself).
            Log.RollbackFailed(_logger, exception);
        }
    }

    private abstract class Operation
    {
        /// <summary>Runs inside the batch's transaction; an exception fails the batch, which then runs again one operation at a time.</summary>
        public abstract void Run(SqliteCommands commands);

        /// <summary>Completes the caller once its transaction has committed.</summary>
        public abstract void Publish();

        public abstract void Fail(Exception exception);
    }

    private sealed class Operation<T> : Operation
    {
        private readonly Func<SqliteCommands, T> _work;
        private readonly CancellationToken _cancellationToken;
        private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private T? _result;
        private bool _canceled;

        public Operation(Func<SqliteCommands, T> work, CancellationToken cancellationToken)
        {
            _work = work;
            _cancellationToken = cancellationToken;
        }

        public Task<T> Completion => _completion.Task;

        public override void Run(SqliteCommands commands)
        {
            // Given up on before it first ran: it does nothing, now or when the batch runs again.
            _canceled |= _cancellationToken.IsCancellationRequested;
            if (!_canceled)
            {
                _result = _work(commands);
            }
        }

        public override void Publish()
        {
            if (_canceled)
            {
                _completion.TrySetCanceled(_cancellationToken);
            }
            else
            {
                _completion.TrySetResult(_result!);
            }
        }

        public override void Fail(Exception exception) => _completion.TrySetException(exception);
    }
}
