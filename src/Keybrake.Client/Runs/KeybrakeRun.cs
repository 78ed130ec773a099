namespace Keybrake.Client;

/// <summary>
/// The agent run that the calls on the current asynchronous flow belong to. Every audit record carries
/// the run id, per-run caps count against it, and <c>AddKeybrakeRunHeaders</c> stamps it on other clients
/// (such as the one that calls LiteLLM) so both audit trails join on one column.
/// </summary>
/// <example>
/// <code>
/// using (KeybrakeRun.Begin("run_abc"))
/// {
///     await agent.RunAsync(cancellationToken); // every guarded call inside carries run_abc
/// }
/// </code>
/// </example>
public static class KeybrakeRun
{
    /// <summary>The longest run id accepted.</summary>
    public const int MaxRunIdLength = RunIds.MaxLength;

    // The only static mutable state in the library: an AsyncLocal flows with the ExecutionContext,
    // so each logical flow (await, Task.Run, thread-pool work) sees its own value.
    private static readonly AsyncLocal<string?> s_current = new();

    /// <summary>The run id of the current flow, or <see langword="null"/> outside any run.</summary>
    public static string? CurrentId => s_current.Value;

    /// <summary>
    /// Starts a run scope. The id flows across <c>await</c> and <c>Task.Run</c>; disposing the scope
    /// restores the id that was current when it began, so scopes nest.
    /// </summary>
    /// <param name="runId">1 to 200 visible ASCII characters, no spaces: it travels in HTTP headers.</param>
    /// <exception cref="ArgumentException">The run id is empty, too long, or has characters a header cannot carry.</exception>
    public static KeybrakeRunScope Begin(string runId)
    {
        Validate(runId);
        var previous = s_current.Value;
        s_current.Value = runId;
        return new KeybrakeRunScope(previous);
    }

    /// <summary>
    /// A handler that stamps the current run id as <c>x-agent-run-id</c> and <c>x-litellm-session-id</c>, for
    /// clients built without dependency injection (with it, use <c>AddKeybrakeRunHeaders</c>).
    /// </summary>
    /// <param name="innerHandler">The handler that sends the request; a new <see cref="HttpClientHandler"/> when empty.</param>
    public static DelegatingHandler CreateHeaderHandler(HttpMessageHandler? innerHandler = null) =>
        new RunIdHeaderHandler { InnerHandler = innerHandler ?? new HttpClientHandler() };

    internal static void Restore(string? previous) => s_current.Value = previous;

    internal static void Validate(string runId) => RunIds.Validate(runId);
}

/// <summary>The scope returned by <see cref="KeybrakeRun.Begin(string)"/>; dispose it to end the run scope.</summary>
public readonly struct KeybrakeRunScope : IDisposable, IEquatable<KeybrakeRunScope>
{
    private readonly string? _previous;

    internal KeybrakeRunScope(string? previous) => _previous = previous;

    /// <summary>Restores the run id that was current when this scope began.</summary>
    public void Dispose() => KeybrakeRun.Restore(_previous);

    /// <inheritdoc />
    public bool Equals(KeybrakeRunScope other) => string.Equals(_previous, other._previous, StringComparison.Ordinal);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is KeybrakeRunScope other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => _previous is null ? 0 : StringComparer.Ordinal.GetHashCode(_previous);

    /// <summary>Compares two scopes.</summary>
    public static bool operator ==(KeybrakeRunScope left, KeybrakeRunScope right) => left.Equals(right);

    /// <summary>Compares two scopes.</summary>
    public static bool operator !=(KeybrakeRunScope left, KeybrakeRunScope right) => !left.Equals(right);
}
