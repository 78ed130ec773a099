namespace Keybrake.BudgetService.Hosting;

/// <summary>
/// The service cannot start, for a reason an operator fixes (a path, a permission, a bad setting). Its message is
/// one line that names the path and the problem; <c>Program</c> prints it alone, without a stack trace, and exits
/// non-zero.
/// </summary>
internal sealed class ServiceStartException : Exception
{
    public ServiceStartException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }

    /// <summary>The first line of an exception's message: the part an operator reads.</summary>
    public static string Reason(Exception exception) =>
        exception.Message.Split('\n', 2)[0].Trim().TrimEnd('.');
}
