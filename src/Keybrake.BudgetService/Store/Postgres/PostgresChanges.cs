using Npgsql;
using static Keybrake.BudgetService.Store.Postgres.PostgresSql;

namespace Keybrake.BudgetService.Store.Postgres;

/// <summary>
/// The notifications that fan a key or credential change out to every replica: each write sends one with
/// <c>pg_notify</c> inside its own transaction, so PostgreSQL delivers it only when the change commits (and never for a
/// rolled-back one). The payload names what changed, never how: a replica that hears it reads the current state back
/// from the store, so a late, doubled or reordered notification cannot make it apply an old state.
/// </summary>
internal static class PostgresChanges
{
    /// <summary>The channel every replica listens on.</summary>
    public const string Channel = "keybrake_changes";

    private const string KeyPrefix = "k:";
    private const string ClientPrefix = "c:";

    public static string KeyChanged(string keyId) => KeyPrefix + keyId;

    public static string ClientChanged(string clientId) => ClientPrefix + clientId;

    /// <summary>What a payload names: a key id, or a client id; neither for a payload this version does not know.</summary>
    public static (string? KeyId, string? ClientId) Parse(string payload) =>
        payload.StartsWith(KeyPrefix, StringComparison.Ordinal) ? (payload[KeyPrefix.Length..], null)
        : payload.StartsWith(ClientPrefix, StringComparison.Ordinal) ? (null, payload[ClientPrefix.Length..])
        : (null, null);

    /// <summary>Queues the notification in <paramref name="transaction"/>: it goes out when that commits.</summary>
    public static async Task NotifyAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string payload, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, transaction, "SELECT pg_notify($1, $2)", Text(Channel), Text(payload));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
