using System.ComponentModel.DataAnnotations;

namespace Keybrake.BudgetService.OperatorConsole;

/// <summary>The console's settings, bound from <c>BudgetService:Console</c>.</summary>
internal sealed class ConsoleOptions
{
    public const string SectionName = "BudgetService:Console";

    /// <summary>
    /// How long a console session lasts after sign-in (absolute: using the console does not extend it), default 8 hours.
    /// Between 1 minute and 7 days.
    /// </summary>
    [Range(typeof(TimeSpan), "00:01:00", "7.00:00:00", ErrorMessage = "BudgetService:Console:SessionLifetime must be between 00:01:00 and 7.00:00:00")]
    public TimeSpan SessionLifetime { get; set; } = TimeSpan.FromHours(8);

    /// <summary>How often the pages' live regions fetch fresh figures, default 2 seconds. Between 0.5 and 60 seconds.</summary>
    [Range(typeof(TimeSpan), "00:00:00.5", "00:01:00", ErrorMessage = "BudgetService:Console:RefreshInterval must be between 00:00:00.5 and 00:01:00")]
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(2);
}
