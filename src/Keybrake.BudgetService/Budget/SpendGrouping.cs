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
                throw RequestChecks.Invalid($"group_by '{name}' is not one of key, day, vendor, run");
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

    /// <summary>Sums the counters into one row per group, in a stable order, with the totals.</summary>
    public QuerySpendReply Aggregate(IReadOnlyList<SpendCounter> counters, IReadOnlyDictionary<string, string> vendors)
    {
        var rows = new SortedDictionary<(string Key, string Vendor, string Day, string Run), (long Settled, long Reserved)>();
        long settled = 0, reserved = 0;
        foreach (var counter in counters)
        {
            var group = (
                ByKey ? counter.KeyId : string.Empty,
                ByVendor ? vendors.GetValueOrDefault(counter.KeyId, string.Empty) : string.Empty,
                ByDay ? counter.Day ?? string.Empty : string.Empty,
                ByRun ? counter.RunId ?? string.Empty : string.Empty);
            var sum = rows.GetValueOrDefault(group);
            rows[group] = (checked(sum.Settled + counter.SettledMicroUsd), checked(sum.Reserved + counter.ReservedMicroUsd));
            settled = checked(settled + counter.SettledMicroUsd);
            reserved = checked(reserved + counter.ReservedMicroUsd);
        }

        var reply = new QuerySpendReply { TotalSettledMicroUsd = settled, TotalReservedMicroUsd = reserved };
        foreach (var ((key, vendor, day, run), sum) in rows)
        {
            reply.Rows.Add(new SpendRow { KeyId = key, Vendor = vendor, Day = day, RunId = run, SettledMicroUsd = sum.Settled, ReservedMicroUsd = sum.Reserved });
        }

        return reply;
    }
}
