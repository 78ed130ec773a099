using Microsoft.Data.Sqlite;

namespace Keybrake.BudgetService.Store.Sqlite;

/// <summary>
/// Checkpoints the store's write-ahead log from a connection of its own, on a timer. The worker's connection
/// has automatic checkpoints off: left on, SQLite checkpoints (and syncs the files, milliseconds each time) on
/// whichever connection commits as the log passes 1,000 pages, so the single writer, and every caller queued
/// behind it, would stall. A passive checkpoint takes no lock a writer needs; once a minute a truncating one
/// gives the log file its space back. It holds the writer off while it runs (a log just checkpointed leaves
/// it little to do), and never waits for the writer: with no busy timeout on this connection, a truncating
/// checkpoint that finds the writer busy does what a passive one would and tries again next time.
/// </summary>
internal sealed class WalCheckpointer : IAsyncDisposable
{
    /// <summary>How often the log is checkpointed.</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(1);

    /// <summary>Every this many checkpoints, one truncates the log file.</summary>
    public const int TruncateEvery = 60;

    private readonly SqliteConnection _connection;
    private readonly SqliteCommand _passive;
    private readonly SqliteCommand _truncate;
    private readonly PeriodicTimer _timer;
    private readonly ILogger _logger;
    private readonly Task _loop;
    private long _checkpoints;

    public WalCheckpointer(string connectionString, TimeSpan interval, TimeProvider time, ILogger logger)
    {
        _logger = logger;
        _connection = new SqliteConnection(connectionString);
        _connection.Open();
        using (var pragmas = _connection.CreateCommand())
        {
            pragmas.CommandText = "PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 0;";
            pragmas.ExecuteNonQuery();
        }

        _passive = _connection.CreateCommand();
        _passive.CommandText = "PRAGMA wal_checkpoint(PASSIVE)";
        _truncate = _connection.CreateCommand();
        _truncate.CommandText = "PRAGMA wal_checkpoint(TRUNCATE)";
        _timer = new PeriodicTimer(interval, time);
        _loop = RunAsync();
    }

    /// <summary>Checkpoints run so far.</summary>
    public long Checkpoints => Interlocked.Read(ref _checkpoints);

    public async ValueTask DisposeAsync()
    {
        _timer.Dispose(); // ends the loop at its next wait, or at once if it is waiting
        await _loop.ConfigureAwait(false);
        _passive.Dispose();
        _truncate.Dispose();
        await _connection.DisposeAsync().ConfigureAwait(false);
    }

    private async Task RunAsync()
    {
        long failed = 0;
        while (await _timer.WaitForNextTickAsync().ConfigureAwait(false))
        {
            try
            {
                // The pool thread this runs on does the file syncs, not the writer.
                var next = Checkpoints + 1;
                (next % TruncateEvery == 0 ? _truncate : _passive).ExecuteNonQuery();
                Interlocked.Increment(ref _checkpoints);
                if (failed > 0)
                {
                    Log.CheckpointRecovered(_logger, failed);
                    failed = 0;
                }
            }
            catch (SqliteException exception)
            {
                // Busy or an I/O error: the log keeps growing until a later checkpoint succeeds; nothing is lost.
                // Said once per episode (a full disk fails every tick), not a stack trace a second.
                if (failed++ == 0)
                {
                    Log.CheckpointFailed(_logger, exception.Message.ReplaceLineEndings(" "));
                }
            }
        }
    }
}
