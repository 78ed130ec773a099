using Microsoft.Extensions.Options;

namespace Keybrake.BudgetService.Leases;

/// <summary>Budget lease settings of the service, bound from <c>BudgetService:Leases</c>.</summary>
internal sealed class LeaseServiceOptions
{
    public const string SectionName = "BudgetService:Leases";

    /// <summary>
    /// How long a call denied at a cap while other processes held unused lease may wait for a lease to come back before
    /// it asks once more (<c>AuthorizeReply.recall_wait_milliseconds</c>).
    /// </summary>
    public TimeSpan RecallWait { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often the service looks for leases past their expiry.</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>Refuses, at start-up, lease settings the service cannot honour.</summary>
internal sealed class LeaseServiceOptionsValidator : IValidateOptions<LeaseServiceOptions>
{
    public ValidateOptionsResult Validate(string? name, LeaseServiceOptions options)
    {
        var failures = new List<string>();
        if (options.RecallWait <= TimeSpan.Zero || options.RecallWait > TimeSpan.FromSeconds(30))
        {
            failures.Add($"{LeaseServiceOptions.SectionName}:RecallWait is {options.RecallWait}: use more than 00:00:00 and at most 00:00:30");
        }

        if (options.SweepInterval < TimeSpan.FromMilliseconds(50) || options.SweepInterval > TimeSpan.FromMinutes(1))
        {
            failures.Add($"{LeaseServiceOptions.SectionName}:SweepInterval is {options.SweepInterval}: use 00:00:00.05 to 00:01:00");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
