namespace Keybrake.BudgetService.Store;

/// <summary>
/// Pruning deletes in batches of <see cref="Size"/> rows, each its own short transaction, so that a backlog (the first
/// run after a retention was set, say) never holds the money path's writer for long.
/// </summary>
internal static class PruneBatches
{
    public const int Size = 1000;

    /// <summary>Runs <paramref name="batch"/> until it deletes fewer than a full batch; returns the rows deleted.</summary>
    public static async ValueTask<int> RunAsync(Func<CancellationToken, ValueTask<int>> batch, CancellationToken cancellationToken)
    {
        var total = 0;
        int deleted;
        do
        {
            deleted = await batch(cancellationToken).ConfigureAwait(false);
            total += deleted;
        }
        while (deleted >= Size);

        return total;
    }
}
