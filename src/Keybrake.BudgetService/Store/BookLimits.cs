namespace Keybrake.BudgetService.Store;

/// <summary>
/// The bounds that keep the books exact. Every amount the service accepts is at most
/// <see cref="MaxAmountMicroUsd"/>, and no counter is ever written above <see cref="MaxCounterMicroUsd"/>, so
/// that no sum the service or SQLite computes (settled + reserved, a counter plus an amount) can overflow a
/// 64-bit integer: SQLite would silently turn such a sum into a REAL, and the books would no longer add up.
/// </summary>
internal static class BookLimits
{
    /// <summary>The largest single amount (estimate, actual cost, cap): $1,000,000,000.</summary>
    public const long MaxAmountMicroUsd = 1_000_000_000_000_000;

    /// <summary>The largest value a day or run counter may reach: $1,000,000,000,000.</summary>
    public const long MaxCounterMicroUsd = 1_000_000_000_000_000_000;

    /// <summary>A commit above this multiple of its estimate (plus <see cref="HeldSlackMicroUsd"/>) is held for an operator.</summary>
    public const long HeldMultiple = 10;

    /// <summary>What a commit may exceed the multiple of its estimate by before it is held: $1, so small calls estimated at $0 still settle.</summary>
    public const long HeldSlackMicroUsd = 1_000_000;

    /// <summary>
    /// The largest actual cost a client may commit for a reservation: the stated multiple of its estimate plus the
    /// slack, and never more than the key's daily cap. Anything above is held, not trusted.
    /// </summary>
    public static long HoldAbove(long estimateMicroUsd, long? dailyCapMicroUsd) =>
        Math.Min(dailyCapMicroUsd ?? long.MaxValue, (Math.Clamp(estimateMicroUsd, 0, MaxAmountMicroUsd) * HeldMultiple) + HeldSlackMicroUsd);
}
