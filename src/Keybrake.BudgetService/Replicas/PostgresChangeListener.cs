using System.Threading.Channels;
using Keybrake.BudgetService.Store.Postgres;
using Npgsql;

namespace Keybrake.BudgetService.Replicas;

/// <summary>
/// Hears of the key and credential changes every replica commits (PostgreSQL <c>LISTEN</c> on a connection of its own,
/// see <see cref="PostgresDatabase.ListenDataSource"/>) and applies them here (<see cref="ReplicaChanges"/>). On every
/// (re)connection it listens first and then reads every key and credential back, so that a change committed while it
/// was not listening is not lost. While it is not listening, <see cref="ChangeFeed"/> says so: this replica's key event
/// streams end with <c>Unavailable</c> (their processes move to another replica) and it reports not ready.
/// </summary>
internal sealed class PostgresChangeListener : BackgroundService
{
    private static readonly TimeSpan s_firstRetry = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan s_lastRetry = TimeSpan.FromSeconds(5);

    private readonly PostgresDatabase _database;
    private readonly ReplicaChanges _changes;
    private readonly ChangeFeed _feed;
    private readonly Leases.LeaseEvents _leases;
    private readonly ILogger<PostgresChangeListener> _logger;
    private readonly TaskCompletionSource _firstAttempt = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public PostgresChangeListener(PostgresDatabase database, ReplicaChanges changes, ChangeFeed feed, Leases.LeaseEvents leases, ILogger<PostgresChangeListener> logger)
    {
        _leases = leases;
        _database = database;
        _changes = changes;
        _feed = feed;
        _logger = logger;
    }

    /// <summary>
    /// Returns once the first attempt to listen succeeded or failed: a replica that starts on a database that answers
    /// is ready, and takes key event streams, as soon as it starts; one that cannot listen starts not ready and keeps trying.
    /// </summary>
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await base.StartAsync(cancellationToken);
        await _firstAttempt.Task.WaitAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var retry = s_firstRetry;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await ListenAsync(
                    () =>
                    {
                        retry = s_firstRetry;
                        _firstAttempt.TrySetResult();
                    },
                    stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception exception)
            {
                _feed.Lost();
                Log.ReplicaListenLost(_logger, Reason(exception));
            }

            _firstAttempt.TrySetResult();

            try
            {
                // A network timer, on the system clock: a test's fake clock must not stop the replica from coming back.
                await Task.Delay(retry, TimeProvider.System, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            retry = TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, s_lastRetry.Ticks));
        }

        _feed.Lost();
        _firstAttempt.TrySetResult();
    }

    /// <summary>Listens until the connection fails (or applying a change does: the next connection reads everything back).</summary>
    private async Task ListenAsync(Action listening, CancellationToken stoppingToken)
    {
        await using var connection = await _database.ListenDataSource.OpenConnectionAsync(stoppingToken);
        var heard = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        connection.Notification += (_, notification) => heard.Writer.TryWrite(notification.Payload);
        await using (var listen = new NpgsqlCommand($"LISTEN {PostgresChanges.Channel}", connection))
        {
            await listen.ExecuteNonQueryAsync(stoppingToken);
        }

        // From here every commit is heard; what committed before is read back, then streams may start.
        var (keys, clients) = await _changes.ReadBackAsync(stoppingToken);
        _feed.Started();
        listening();
        Log.ReplicaListening(_logger, _database.ListenerName, keys, clients);

        using var ended = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var applying = ApplyAsync(heard.Reader, ended, stoppingToken);
        try
        {
            while (true)
            {
                await connection.WaitAsync(ended.Token);
            }
        }
        finally
        {
            heard.Writer.TryComplete();
            await ended.CancelAsync();
            await applying;
        }
    }

    /// <summary>Applies what was heard, in order; a failure ends the listening (<paramref name="ended"/>) and is thrown from there.</summary>
    private async Task ApplyAsync(ChannelReader<string> heard, CancellationTokenSource ended, CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var payload in heard.ReadAllAsync(ended.Token))
            {
                // A lease event carries itself: to this replica's streams, unless this replica sent it.
                if (Leases.PostgresLeaseRelay.Parse(payload) is { } lease)
                {
                    if (lease.Origin != _database.ReplicaName)
                    {
                        _leases.Heard(lease.Kind, lease.KeyId, lease.RunId);
                    }

                    continue;
                }

                switch (PostgresChanges.Parse(payload))
                {
                    case ({ } keyId, _):
                        await _changes.KeyChangedAsync(keyId, stoppingToken);
                        break;
                    case (_, { } clientId):
                        await _changes.ClientChangedAsync(clientId, stoppingToken);
                        break;
                }
            }
        }
        catch (OperationCanceledException) when (ended.IsCancellationRequested)
        {
            // the connection ended first
        }
        catch (Exception)
        {
            // Not knowing a change is as bad as not hearing it: reconnect, and read everything back.
            await ended.CancelAsync();
            throw;
        }
    }

    /// <summary>The failure's type and message, one line; Npgsql's messages name the server and the problem, never the password.</summary>
    private static string Reason(Exception exception) =>
        $"{exception.GetType().Name}: {exception.Message}".ReplaceLineEndings(" ");
}
