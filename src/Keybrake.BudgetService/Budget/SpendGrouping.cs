using Keybrake.BudgetService.Store;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Budget;

/// <summary>How <c>QuerySpend</c> groups counters: by any of key, day, vendor and run (run counters span days, so not day with run).</summary>
internal sealed record SpendGrouping(bool ByKey, bool ByDay, bool ByVendor, bool ByRun)
{
    public static SpendGrouping Parse(IEnumerable<string> names, bool runFiltered)
    {
        var set = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var name in names.SelectMany(n => n.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            if (name is not ("key" or "day" or "vendor" or "run"))
            {
                throw RequestChecks.Invalid($"group_by '{RequestChecks.Shown(name)}' is not one of key, day, vendor, run");
            }

            set.Add(name.ToLowerInvariant());
        }

        if (set.Count == 0)
        {
            set.UnionWith(runFiltered ? ["key", "run"] : ["key", "day"]);
        }

        if (set.Contains("run") && set.Contains("day"))
        {
            throw RequestChecks.Invalid("group_by cannot combine run and day: a run's counter spans days");
        }

        return new SpendGrouping(set.Contains("key"), set.Contains("day"), set.Contains("vendor"), set.Contains("run") || runFiltered);
    }

    /// <summary>
    /// Sums the counters into one row per group, in a stable order, with the totals. Sums are 128-bit, so no
    /// number of counters overflows them; a sum that does not fit the reply's 64 bits is a clear error naming the
    /// way out, never a crash.
    /// </summary>
    public QuerySpendReply Aggregate(IReadOnlyList<SpendCounter> counters, IReadOnlyDictionary<string, string> vendors)
    {
        var rows = new SortedDictionary<(string Key, string Vendor, string Day, string Run), (Int128 Settled, Int128 Reserved, Int128 Overrun)>();
        Int128 settled = 0, reserved = 0, overrun = 0;
        foreach (var counter in counters)
        {
            var group = (
                ByKey ? counter.KeyId : string.Empty,
                ByVendor ? vendors.GetValueOrDefault(counter.KeyId, string.Empty) : string.Empty,
                ByDay ? counter.Day ?? string.Empty : string.Empty,
                ByRun ? counter.RunId ?? string.Empty : string.Empty);
            var sum = rows.GetValueOrDefault(group);
            rows[group] = (sum.Settled + counter.SettledMicroUsd, sum.Reserved + counter.ReservedMicroUsd, sum.Overrun + counter.OverrunMicroUsd);
            settled += counter.SettledMicroUsd;
            reserved += counter.ReservedMicroUsd;
            overrun += counter.OverrunMicroUsd;
        }

        var reply = new QuerySpendReply { TotalSettledMicroUsd = Fit(settled), TotalReservedMicroUsd = Fit(reserved), TotalOverrunMicroUsd = Fit(overrun) };
        foreach (var ((key, vendor, day, run), sum) in rows)
        {
            reply.Rows.Add(new SpendRow
            {
                KeyId = key,
                Vendor = vendor,
                Day = day,
                RunId = run,
                SettledMicroUsd = Fit(sum.Settled),
                ReservedMicroUsd = Fit(sum.Reserved),
                OverrunMicroUsd = Fit(sum.Overrun),
            });
        }

        return reply;
    }

    private static long Fit(Int128 sum) =>
        sum <= long.MaxValue && sum >= long.MinValue
            ? (long)sum
            : throw new Grpc.Core.RpcException(new Grpc.Core.Status(
                Grpc.Core.StatusCode.OutOfRange,
                "a spend total is larger than a 64-bit count of micro-USD holds; narrow the query (one key, or a range of days)"));
}
