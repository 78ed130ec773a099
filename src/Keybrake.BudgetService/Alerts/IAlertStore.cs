namespace Keybrake.BudgetService.Alerts;

/// <summary>
/// Fired alerts and their deliveries (an outbox), on the service's store. The store is the arbiter of "once": an alert
/// is fired by inserting it under its dedupe key, and only the one insert that wins (of any number of processes or
/// replicas seeing the same crossing) queues its deliveries, in the same transaction.
/// </summary>
internal interface IAlertStore
{
    /// <summary>
    /// Stores the alert and one pending delivery per webhook, unless an alert with its <see cref="StoredAlert.DedupeKey"/>
    /// exists; <see langword="true"/> when this call stored it.
    /// </summary>
    ValueTask<bool> TryFireAsync(StoredAlert alert, IReadOnlyList<string> webhooks, CancellationToken cancellationToken);

    /// <summary>
    /// Claims up to <paramref name="limit"/> pending deliveries due at <paramref name="now"/> and not claimed by anyone
    /// (or whose claim ran out) until <paramref name="claimUntil"/>: two replicas never claim the same one at once.
    /// </summary>
    ValueTask<IReadOnlyList<DueDelivery>> ClaimDueAsync(DateTimeOffset now, DateTimeOffset claimUntil, int limit, CancellationToken cancellationToken);

    /// <summary>Records one attempt: delivered, or failed with the next attempt's time (<see langword="null"/>: given up).</summary>
    ValueTask RecordAttemptAsync(string alertId, string webhook, DeliveryOutcome outcome, CancellationToken cancellationToken);

    /// <summary>
    /// Forgets alerts fired before <paramref name="firedBefore"/> whose deliveries are all finished (delivered or
    /// failed), with their deliveries; returns how many alerts. A pending delivery keeps its alert.
    /// </summary>
    ValueTask<int> PruneAsync(DateTimeOffset firedBefore, CancellationToken cancellationToken);

    /// <summary>The newest alerts first with their deliveries; <paramref name="undeliveredOnly"/> keeps those with a delivery not made.</summary>
    ValueTask<IReadOnlyList<ListedAlert>> ListAsync(bool undeliveredOnly, int limit, CancellationToken cancellationToken);
}

/// <summary>An alert as stored: <see cref="Payload"/> is the JSON body every webhook of the json format receives.</summary>
internal sealed record StoredAlert(
    string AlertId,
    string DedupeKey,
    string Type,
    string KeyId,
    string? Scope,
    string? Window,
    int? ThresholdPercent,
    string Message,
    string Payload,
    DateTimeOffset CreatedAt);

/// <summary>Where a delivery is.</summary>
internal enum DeliveryState
{
    Pending = 0,
    Delivered = 1,
    Failed = 2,
}

/// <summary>A delivery the sender claimed: the alert's payload, and the attempts made so far.</summary>
internal sealed record DueDelivery(string AlertId, string Webhook, int Attempts, string Message, string Payload, DateTimeOffset CreatedAt);

/// <summary>One attempt's result.</summary>
internal sealed record DeliveryOutcome(DeliveryState State, DateTimeOffset At, string? Error, DateTimeOffset? NextAttemptAt);

/// <summary>A delivery as listed.</summary>
internal sealed record ListedDelivery(string Webhook, DeliveryState State, int Attempts, string? LastError, DateTimeOffset? NextAttemptAt, DateTimeOffset? DeliveredAt);

/// <summary>An alert as listed, with its deliveries.</summary>
internal sealed record ListedAlert(StoredAlert Alert, IReadOnlyList<ListedDelivery> Deliveries);
