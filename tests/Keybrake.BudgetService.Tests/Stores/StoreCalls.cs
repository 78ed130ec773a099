using Keybrake.BudgetService.Store;

namespace Keybrake.BudgetService.Tests.Stores;

/// <summary>Store commands as the service builds them, in dollars for reading.</summary>
internal static class StoreCalls
{
    public static readonly DateTimeOffset Noon = new(2026, 3, 10, 12, 0, 0, TimeSpan.Zero);

    public static readonly DateOnly Today = DateOnly.FromDateTime(Noon.UtcDateTime);

    public static AuthorizeCommand Authorize(string keyId, decimal dollars, decimal dailyCap, string? runId = null, decimal? runCap = null, string? idempotencyKey = null, int request = 1) =>
        new(
            keyId,
            runId,
            idempotencyKey ?? Calls.NewIdempotencyKey(),
            (UInt128)request,
            Calls.Dollars(dollars),
            Today,
            Calls.Dollars(dailyCap),
            runCap is { } cap ? Calls.Dollars(cap) : null,
            "rsv_" + Guid.NewGuid().ToString("N"),
            Noon);

    /// <summary>Dollars as micro-USD.</summary>
    public static long Dollars(decimal dollars) => Calls.Dollars(dollars);

    public static SettleCommand Commit(string reservationId, decimal dollars) => new(reservationId, true, Calls.Dollars(dollars));

    public static SettleCommand Release(string reservationId) => new(reservationId, false, 0);

    /// <summary>Settles as a client with every key in scope, under a key's daily cap of <paramref name="dailyCap"/>.</summary>
    public static async Task<SettleResult> SettleAsync(this IBudgetStore store, SettleCommand settlement, decimal dailyCap = 100) =>
        (await store.SettleAsync([settlement], _ => true, Noon, _ => new KeyCaps(Calls.Dollars(dailyCap), null), CancellationToken.None))[0];

    /// <summary>Resolves as an operator, under a key's daily cap of <paramref name="dailyCap"/>.</summary>
    public static async Task<SettleStatus> ResolveAsync(this IBudgetStore store, string reservationId, long? actualMicroUsd, decimal dailyCap = 100) =>
        (await store.ResolveAsync(reservationId, actualMicroUsd, Noon, _ => new KeyCaps(Calls.Dollars(dailyCap), null), CancellationToken.None)).Status;

    public static Task<StoredSpend> DayAsync(this IBudgetStore store, string keyId) => store.GetDaySpendAsync(keyId, Today, CancellationToken.None).AsTask();
}
