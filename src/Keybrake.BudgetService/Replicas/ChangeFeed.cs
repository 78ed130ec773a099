namespace Keybrake.BudgetService.Replicas;

/// <summary>
/// Whether this replica hears of every key and credential change, wherever it was committed, and so may promise its
/// <c>WatchKeys</c> streams that they miss none. A single process on SQLite makes every change itself: it always
/// does. A replica on PostgreSQL does while its <c>LISTEN</c> connection is up and it has read the state back since
/// that connection (re)started (<see cref="PostgresChangeListener"/>).
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001", Justification = "Lives as long as the service; its token sources hold no timer or wait handle.")]
internal sealed class ChangeFeed
{
    private readonly Lock _gate = new();
    private CancellationTokenSource? _listening;

    /// <param name="listening">Whether the feed starts complete (a single process) or waits for <see cref="Started"/>.</param>
    public ChangeFeed(bool listening)
    {
        if (listening)
        {
            _listening = new CancellationTokenSource();
        }
    }

    /// <summary>Whether this replica hears of every change now.</summary>
    public bool IsListening
    {
        get
        {
            lock (_gate)
            {
                return _listening is not null;
            }
        }
    }

    /// <summary>
    /// A token cancelled when this replica stops hearing of every change (a stream that holds it must end), or
    /// <see langword="null"/> when it does not hear of every change now (a stream must not start).
    /// </summary>
    public CancellationToken? Listening
    {
        get
        {
            lock (_gate)
            {
                return _listening?.Token;
            }
        }
    }

    /// <summary>Listening, and the state read back since: streams may start.</summary>
    public void Started()
    {
        lock (_gate)
        {
            _listening ??= new CancellationTokenSource();
        }
    }

    /// <summary>Not listening: every stream that started while it was ends, and no new one starts until <see cref="Started"/>.</summary>
    public void Lost()
    {
        CancellationTokenSource? ended;
        lock (_gate)
        {
            ended = _listening;
            _listening = null;
        }

        // Not disposed: a stream may still link to its token; it holds nothing that needs releasing.
        ended?.Cancel();
    }
}
