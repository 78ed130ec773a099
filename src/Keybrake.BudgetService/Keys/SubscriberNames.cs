namespace Keybrake.BudgetService.Keys;

/// <summary>How a process on the key event stream is named to the operator: the name it gave, and where it called from.</summary>
internal static class SubscriberNames
{
    private const int MaxLength = 200;

    /// <summary>
    /// <paramref name="given"/> (host/pid/app) at <paramref name="peer"/>. A name that is empty, too long or carries
    /// control characters is not shown as given (it ends up in replies and logs): the peer alone names the process.
    /// </summary>
    public static string Of(string given, string peer)
    {
        var name = given.Trim();
        if (name.Length == 0 || name.Length > MaxLength || name.Any(c => char.IsControl(c) || c is '\u2028' or '\u2029'))
        {
            name = "unnamed process";
        }

        return $"{name} at {peer}";
    }
}
