using System.Threading.Channels;
using Microsoft.Data.Sqlite;

namespace Keybrake.BudgetService.Store.Sqlite;

/// <summary>
/// Runs every store operation on one connection, in batches: one transaction for whatever has queued up
/// while the previous batch committed (group commit), each operation under its own savepoint so one that
/// fails rolls back alone. SQLite allows one writer at a time anyway; batching turns many small
/// transactions into few, which is where SQLite's cost per transaction goes.
/// </summary>
internal sealed class SqliteWorker : IAsyncDisposable
{
    private const int MaxBatch = 512;

    private readonly Channel<Operation> _queue = Channel.CreateUnbounded<Operation>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SqliteConnection _connection;
    private readonly ILogger _logger;
    private readonly Task _loop;

    public SqliteWorker(SqliteConnection connection, ILogger logger)
    {
        _connection = connection;
        _logger = logger;
        Commands = new SqliteCommands(connection);
        _loop = Task.Factory.StartNew(RunAsync, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
    }

    /// <summary>Prepared commands on the worker's connection; only operations running on the worker may use them.</summary>
    public SqliteCommands Commands { get; }

    /// <summary>Queues an operation and completes when its batch has committed.</summary>
    public Task<T> RunAsync<T>(Func<SqliteCommands, T> work, CancellationToken cancellationToken)
    {
        var operation = new Operation<T>(work, cancellationToken);
        if (!_queue.Writer.TryWrite(operation))
        {
            throw new ObjectDisposedException(nameof(SqliteWorker), "The budget store is shutting down.");
        }

        return operation.Completion;
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
        Commands.Dispose();
        await _connection.DisposeAsync().ConfigureAwait(false);
    }

    private async Task RunAsync()
    {
        var batch = new List<Operation>(MaxBatch);
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (batch.Count < MaxBatch && reader.TryRead(out var operation))
            {
                batch.Add(operation);
            }

            RunBatch(batch);
            batch.Clear();
        }
    }

    private void RunBatch(List<Operation> batch)
    {
        try
        {
            using var transaction = _connection.BeginTransaction(deferred: false);
            Commands.Transaction = transaction;
            foreach (var operation in batch)
            {
                operation.Run(Commands);
            }

            transaction.Commit();
        }
        catch (Exception exception)
        {
            // The transaction failed as a whole (disk full, I/O error): nothing in the batch happened. The
            // worker must survive it, or every caller after it would wait forever.
            Log.BatchFailed(_logger, batch.Count, exception);
            foreach (var operation in batch)
            {
                operation.Abandon(exception);
            }

            return;
        }
        finally
        {
            Commands.Transaction = null;
        }

        foreach (var operation in batch)
        {
            operation.Publish();
        }
    }

    private abstract class Operation
    {
        /// <summary>Runs under a savepoint; an exception rolls back this operation only.</summary>
        public abstract void Run(SqliteCommands commands);

        /// <summary>Completes the caller once the batch has committed.</summary>
        public abstract void Publish();

        public abstract void Abandon(Exception exception);
    }

    private sealed class Operation<T> : Operation
    {
        private readonly Func<SqliteCommands, T> _work;
        private readonly CancellationToken _cancellationToken;
        private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private T? _result;
        private Exception? _failure;

        public Operation(Func<SqliteCommands, T> work, CancellationToken cancellationToken)
        {
            _work = work;
            _cancellationToken = cancellationToken;
        }

        public Task<T> Completion => _completion.Task;

        public override void Run(SqliteCommands commands)
        {
            if (_cancellationToken.IsCancellationRequested)
            {
                _failure = new OperationCanceledException(_cancellationToken);
                return; // given up on before it ran: it does nothing
            }

            commands.Savepoint();
            try
            {
                _result = _work(commands);
                commands.ReleaseSavepoint();
            }
            catch (Exception exception)
            {
                // Whatever went wrong, this operation alone is undone and its caller gets the exception;
                // the rest of the batch, and the worker, carry on.
                commands.RollbackToSavepoint();
                _failure = exception;
            }
        }

        public override void Publish()
        {
            if (_failure is not null)
            {
                _completion.TrySetException(_failure);
            }
            else
            {
                _completion.TrySetResult(_result!);
            }
        }

        public override void Abandon(Exception exception) => _completion.TrySetException(exception);
    }
}
