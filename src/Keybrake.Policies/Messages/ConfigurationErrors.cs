namespace Keybrake.Policies;

/// <summary>Turns the configuration binder's nested exceptions into one message that says what and where.</summary>
public static class ConfigurationErrors
{
    /// <summary>The messages of an exception and its inner exceptions, in one line.</summary>
    /// <param name="exception">What the configuration binder threw.</param>
    public static string Describe(Exception exception)
    {
        var messages = new List<string>();
        for (var current = exception; current is not null; current = current.InnerException)
        {
            // The strict binder wraps the real problem in a message that names nothing.
            if (!current.Message.StartsWith("'ErrorOnUnknownConfiguration' was set and binding has failed", StringComparison.Ordinal))
            {
                messages.Add(current.Message);
            }
        }

        return string.Join(" ", messages);
    }
}
