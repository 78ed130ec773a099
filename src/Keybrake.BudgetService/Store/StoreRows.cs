using System.Data.Common;
using Keybrake.BudgetService.Clients;

namespace Keybrake.BudgetService.Store;

/// <summary>
/// The rows of the keys and client credentials as both engines store them: the same columns, in the same order,
/// with the same text for their enums. Each engine writes its own SQL; what a row means is decided here, once.
/// </summary>
internal static class StoreRows
{
    public const string KeyColumns = "key_id, vendor, policy, policy_version, brake_key_sha256, source, created_at, updated_at, secret_version, secret_set_at, previous_secret_valid_until";

    public const string ClientColumns = "client_id, token_sha256, key_ids, source, created_at, revoked_at, integrations";

    /// <summary>A key from a row of <see cref="KeyColumns"/>.</summary>
    public static StoredKey Key(DbDataReader reader) => new(
        reader.GetString(0),
        reader.GetString(1),
        (byte[])reader.GetValue(2),
        reader.GetInt64(3),
        reader.IsDBNull(4) ? null : (byte[])reader.GetValue(4),
        reader.GetString(5) == "admin" ? KeySource.Admin : KeySource.Configuration,
        DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(6)),
        DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(7)),
        reader.GetInt64(8),
        Moment(reader, 9),
        Moment(reader, 10));

    /// <summary>The columns of a key's secrets, for <see cref="Secret"/>.</summary>
    public const string SecretColumns = "version, master_key_id, sealed, set_at, valid_until";

    /// <summary>A stored secret from a row of <see cref="SecretColumns"/>.</summary>
    public static StoredSecret Secret(DbDataReader reader) => new(
        reader.GetInt64(0),
        reader.GetString(1),
        (byte[])reader.GetValue(2),
        DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3)),
        Moment(reader, 4));

    private static DateTimeOffset? Moment(DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(ordinal));

    /// <summary>A client credential from a row of <see cref="ClientColumns"/>.</summary>
    public static StoredClient Client(DbDataReader reader) => new(
        reader.GetString(0),
        (byte[])reader.GetValue(1),
        reader.GetString(2).Split('\n', StringSplitOptions.RemoveEmptyEntries),
        reader.GetString(3) == "configuration" ? ClientSource.Configuration : ClientSource.Admin,
        DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4)),
        reader.IsDBNull(5) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5)),
        reader.GetString(6).Split(',', StringSplitOptions.RemoveEmptyEntries));

    public static string SourceName(KeySource source) => source == KeySource.Admin ? "admin" : "configuration";

    public static string SourceName(ClientSource source) => source == ClientSource.Configuration ? "configuration" : "admin";

    /// <summary>A credential's key ids as stored: one per line.</summary>
    public static string KeyIdsText(IEnumerable<string> keyIds) => string.Join('\n', keyIds);

    /// <summary>A credential's intake integrations as stored: '' for none, else comma-separated (<c>litellm</c>).</summary>
    public static string IntegrationsText(IEnumerable<string>? integrations) => integrations is null ? string.Empty : string.Join(',', integrations);
}
