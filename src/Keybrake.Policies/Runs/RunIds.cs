namespace Keybrake.Policies;

/// <summary>
/// What an agent run id may be: 1 to <see cref="MaxLength"/> visible ASCII characters without spaces, because it
/// travels in HTTP headers (<c>x-agent-run-id</c>) and in the budget service's requests. The guard and the service
/// check it the same way.
/// </summary>
public static class RunIds
{
    /// <summary>The longest run id accepted.</summary>
    public const int MaxLength = 200;

    /// <summary>Checks a run id.</summary>
    /// <param name="runId">The run id.</param>
    /// <exception cref="ArgumentNullException"><paramref name="runId"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">The run id is empty, too long, or has characters a header cannot carry.</exception>
    public static void Validate(string runId)
    {
        ArgumentNullException.ThrowIfNull(runId);
        if (runId.Length is 0 or > MaxLength)
        {
            throw new ArgumentException($"A run id has 1 to {MaxLength} characters; this one has {runId.Length}.", nameof(runId));
        }

        foreach (var c in runId)
        {
            if (c is < '!' or > '~')
            {
                throw new ArgumentException(
                    "A run id is made of visible ASCII characters without spaces, because it travels in HTTP headers.",
                    nameof(runId));
            }
        }
    }
}
