using Keybrake.BudgetService.Store.Postgres;
using Keybrake.Protocol;
using static Keybrake.BudgetService.Store.Postgres.PostgresSql;

namespace Keybrake.BudgetService.Leases;

/// <summary>
/// Sends a lease event to the other replicas on the channel key changes take (<see cref="PostgresChanges"/>), naming
/// this replica so that it does not publish its own event twice. Unlike a key change, the notice carries the event
/// itself: there is no state to read back.
/// </summary>
internal sealed class PostgresLeaseRelay : ILeaseEventRelay
{
    private const string Prefix = "l:";

    private readonly PostgresDatabase _database;

    public PostgresLeaseRelay(PostgresDatabase database) => _database = database;

    public async Task RelayAsync(KeyEventKind kind, string keyId, string runId, CancellationToken cancellationToken) =>
        await _database.OnConnectionAsync(async connection =>
        {
            await using var command = Command(connection, null, "SELECT pg_notify($1, $2)", Text(PostgresChanges.Channel), Text(Payload(_database.ReplicaName, kind, keyId, runId)));
            return await command.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);

    public static string Payload(string origin, KeyEventKind kind, string keyId, string runId) => $"{Prefix}{origin}\n{(int)kind}\n{keyId}\n{runId}";

    /// <summary>A lease event's parts, or <see langword="null"/> for any other payload.</summary>
    public static (string Origin, KeyEventKind Kind, string KeyId, string RunId)? Parse(string payload)
    {
        if (!payload.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return null;
        }

        var parts = payload[Prefix.Length..].Split('\n');
        return parts.Length == 4 && int.TryParse(parts[1], System.Globalization.CultureInfo.InvariantCulture, out var kind)
            && (KeyEventKind)kind is KeyEventKind.LeasesRecalled or KeyEventKind.LeaseReturned
            ? (parts[0], (KeyEventKind)kind, parts[2], parts[3])
            : null;
    }
}
