namespace Keybrake.BudgetService;

/// <summary>The service's log messages. None of them takes an admin token.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Budget store opened at {Path} (schema version {Version})")]
    public static partial void StoreOpened(ILogger logger, string path, int version);

    [LoggerMessage(2, LogLevel.Debug, "A batch of {Count} store operations failed ({Message}); running them again one at a time")]
    public static partial void BatchRetriedAlone(ILogger logger, int count, string message);

    [LoggerMessage(24, LogLevel.Debug, "Rolling back a store transaction failed ({Message}); SQLite ends a transaction itself on a full disk or an I/O error")]
    public static partial void RollbackFailed(ILogger logger, string message);

    [LoggerMessage(25, LogLevel.Error, "Checkpointing the budget store's write-ahead log failed ({Reason}); it grows until a checkpoint succeeds, which will be logged")]
    public static partial void CheckpointFailed(ILogger logger, string reason);

    [LoggerMessage(26, LogLevel.Information, "Checkpointing the budget store's write-ahead log works again, after {Count} failed attempts")]
    public static partial void CheckpointRecovered(ILogger logger, long count);

    [LoggerMessage(3, LogLevel.Information, "Forgot {Count} finished reservations older than the idempotency window")]
    public static partial void Pruned(ILogger logger, int count);

    [LoggerMessage(4, LogLevel.Warning, "Key '{KeyId}' revoked={Revoked} by an admin call")]
    public static partial void RevocationChanged(ILogger logger, string keyId, bool revoked);

    [LoggerMessage(5, LogLevel.Warning, "Rejected an admin call without a valid token ({Method})")]
    public static partial void AdminRejected(ILogger logger, string method);

    [LoggerMessage(6, LogLevel.Error, "Pruning finished reservations failed")]
    public static partial void PruneFailed(ILogger logger, Exception exception);

    [LoggerMessage(7, LogLevel.Warning, "Key '{KeyId}' in configuration differs from the store, where an operator changed it; the store's policy applies")]
    public static partial void ConfiguredKeyOverridden(ILogger logger, string keyId);

    [LoggerMessage(8, LogLevel.Information, "{Count} keys loaded")]
    public static partial void KeysLoaded(ILogger logger, int count);

    [LoggerMessage(9, LogLevel.Warning, "Key '{KeyId}' created by an admin call ({Vendor})")]
    public static partial void KeyCreated(ILogger logger, string keyId, string vendor);

    [LoggerMessage(10, LogLevel.Warning, "Key '{KeyId}' policy changed by an admin call (version {Version})")]
    public static partial void PolicyChanged(ILogger logger, string keyId, long version);

    [LoggerMessage(11, LogLevel.Warning, "No admin token is configured: generated one at {Path} (readable by this user only)")]
    public static partial void AdminTokenGenerated(ILogger logger, string path);

    [LoggerMessage(12, LogLevel.Information, "Admin token read from {Path}")]
    public static partial void AdminTokenRead(ILogger logger, string path);

    [LoggerMessage(13, LogLevel.Error, "Key '{KeyId}': its stored policy does not compile on this machine, so no money may move with it until an operator updates it: {Problem}")]
    public static partial void StoredPolicyRejected(ILogger logger, string keyId, string problem);

    [LoggerMessage(14, LogLevel.Warning, "Reservation '{ReservationId}' of key '{KeyId}': a commit of {ActualMicroUsd} micro-USD against an estimate of {EstimateMicroUsd} is held for an operator (keybrake reservations list; resolve it to settle)")]
    public static partial void SettlementHeld(ILogger logger, string reservationId, string keyId, long actualMicroUsd, long estimateMicroUsd);

    [LoggerMessage(15, LogLevel.Warning, "The admin token file {Path} was readable by other users; it is now readable by this user only (mode 0600). Consider the token exposed and replace it")]
    public static partial void AdminTokenResecured(ILogger logger, string path);

    [LoggerMessage(16, LogLevel.Information, "{Count} client credentials in force")]
    public static partial void ClientsLoaded(ILogger logger, int count);

    [LoggerMessage(17, LogLevel.Warning, "Refused a {Method} call without a valid client credential ({Problem})")]
    public static partial void ClientRejected(ILogger logger, string method, string problem);

    [LoggerMessage(18, LogLevel.Warning, "Refused client '{ClientId}': {Method} named key '{KeyId}', which is outside its scope")]
    public static partial void OutOfScope(ILogger logger, string clientId, string method, string keyId);

    [LoggerMessage(19, LogLevel.Warning, "Client '{ClientId}' sent {Count} settlements for reservations outside its scope; they were not touched")]
    public static partial void SettleOutOfScope(ILogger logger, string clientId, int count);

    [LoggerMessage(20, LogLevel.Warning, "Client credential '{ClientId}' issued by an admin call for keys {Keys}")]
    public static partial void ClientCreated(ILogger logger, string clientId, string keys);

    [LoggerMessage(21, LogLevel.Warning, "Client credential '{ClientId}' revoked by an admin call")]
    public static partial void ClientRevoked(ILogger logger, string clientId);

    [LoggerMessage(22, LogLevel.Error, "The budget store cannot be written ({Reason}; first seen in {Method}): every call fails closed as Unavailable until it can. The count comes when it recovers")]
    public static partial void StoreFailing(ILogger logger, string method, string reason);

    [LoggerMessage(23, LogLevel.Warning, "The budget store can be written again; {Count} calls failed closed meanwhile")]
    public static partial void StoreRecovered(ILogger logger, long count);

    [LoggerMessage(27, LogLevel.Warning, "INSECURE: listening without TLS on {Url}, which other hosts can reach (BudgetService:AllowInsecureNetwork=true). Tokens, policies and audit records cross the network in clear text. Configure BudgetService:Tls:CertificatePath.")]
    public static partial void InsecureNetwork(ILogger logger, string url);

    [LoggerMessage(28, LogLevel.Information, "Listening on {Url} for {Serves}")]
    public static partial void Listening(ILogger logger, string url, string serves);

    [LoggerMessage(29, LogLevel.Warning, "Key '{KeyId}': {Confirmed} of {Processes} processes on the key event stream confirmed the change; not confirmed: {Unconfirmed}")]
    public static partial void KeyEventUnconfirmed(ILogger logger, string keyId, int confirmed, int processes, string unconfirmed);

    [LoggerMessage(41, LogLevel.Warning, "Client credential '{ClientId}': {Confirmed} of {Processes} processes streaming with it confirmed its revocation; not confirmed: {Unconfirmed}")]
    public static partial void ClientRevocationUnconfirmed(ILogger logger, string clientId, int confirmed, int processes, string unconfirmed);

    [LoggerMessage(220, LogLevel.Information, "Settled the deferred reservation of {Vendor} object '{ObjectId}' of key '{KeyId}' at {ActualMicroUsd} micro-USD (estimated {EstimateMicroUsd})")]
    public static partial void DeferredObjectSettled(ILogger logger, string vendor, string objectId, string keyId, long actualMicroUsd, long estimateMicroUsd);

    [LoggerMessage(221, LogLevel.Warning, "The price of {Vendor} object '{ObjectId}' of key '{KeyId}', {ActualMicroUsd} micro-USD against an estimate of {EstimateMicroUsd}, is held for an operator (keybrake reservations list; resolve it to settle)")]
    public static partial void DeferredObjectHeld(ILogger logger, string vendor, string objectId, string keyId, long actualMicroUsd, long estimateMicroUsd);

    [LoggerMessage(222, LogLevel.Warning, "Client '{ClientId}' sent {Count} deferrals for keys outside its scope; they were not recorded")]
    public static partial void DeferralsOutOfScope(ILogger logger, string clientId, int count);

    [LoggerMessage(241, LogLevel.Warning, "Key '{KeyId}' ({Vendor}) is OVER its {Scope} cap of {CapMicroUsd} micro-USD for {Window}: a settlement pushed settled spend to {SettledMicroUsd} micro-USD, {OverrunMicroUsd} micro-USD over (a price above its estimate; the reservation fit the cap). New calls are denied until the window ends or the cap is raised")]
    public static partial void OverCap(ILogger logger, string keyId, string vendor, string scope, long capMicroUsd, string window, long settledMicroUsd, long overrunMicroUsd);

    [LoggerMessage(260, LogLevel.Information, "Budget store opened on PostgreSQL at {Database} (schema version {Version})")]
    public static partial void PostgresStoreOpened(ILogger logger, string database, int version);

    [LoggerMessage(261, LogLevel.Debug, "A budget store transaction met PostgreSQL error {SqlState} on attempt {Attempt}; running it again")]
    public static partial void TransactionRetried(ILogger logger, string sqlState, int attempt);

    [LoggerMessage(262, LogLevel.Information, "Migrated the PostgreSQL budget database at {Database} from schema version {From} to {To}")]
    public static partial void PostgresMigrated(ILogger logger, string database, int from, int to);

    [LoggerMessage(300, LogLevel.Information, "Forgot {AuditRecords} audit records past the audit retention, {VendorObjects} vendor objects past the object retention, {DutyClaims} expired duty claims and {Clients} credentials revoked past their retention")]
    public static partial void PrunedRecords(ILogger logger, int auditRecords, int vendorObjects, int dutyClaims, int clients);

    [LoggerMessage(301, LogLevel.Error, "Pruning audit records, vendor objects, duty claims or revoked credentials failed")]
    public static partial void PruneRecordsFailed(ILogger logger, Exception exception);

    [LoggerMessage(320, LogLevel.Information, "Key '{KeyId}': vendor secret version {Version} stored, sealed under master key {MasterKeyId}")]
    public static partial void SecretSet(ILogger logger, string keyId, long version, string masterKeyId);

    [LoggerMessage(321, LogLevel.Warning, "Key '{KeyId}': vendor secret rotated to version {Version}; the previous one is accepted until {PreviousValidUntil}")]
    public static partial void SecretRotated(ILogger logger, string keyId, long version, string previousValidUntil);

    [LoggerMessage(322, LogLevel.Information, "Delivered the vendor secret of key '{KeyId}' (version {Version}) to client '{ClientId}'")]
    public static partial void SecretDelivered(ILogger logger, string keyId, long version, string clientId);

    [LoggerMessage(323, LogLevel.Warning, "Refused client '{ClientId}' ({Peer}) the vendor secret of key '{KeyId}': outside its scope; audited")]
    public static partial void SecretRefused(ILogger logger, string clientId, string peer, string keyId);

    [LoggerMessage(324, LogLevel.Error, "The vendor secret of key '{KeyId}' (version {Version}) does not open under the master key it names ({MasterKeyId}): the row was altered or copied from another key; set the secret again")]
    public static partial void SecretUnreadable(ILogger logger, string keyId, long version, string masterKeyId);

    [LoggerMessage(325, LogLevel.Information, "Erased {Count} previous vendor secrets whose rotation overlap window has closed")]
    public static partial void PreviousSecretsErased(ILogger logger, int count);

    [LoggerMessage(326, LogLevel.Information, "Denied a call of key '{KeyId}' carrying vendor secret version {Version}: rotated to version {Current}, and the overlap window has closed")]
    public static partial void SecretVersionRefused(ILogger logger, string keyId, long version, long current);
}
