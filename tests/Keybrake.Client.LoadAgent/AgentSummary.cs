using System.Collections.Concurrent;
using System.Text.Json;

namespace Keybrake.Client.LoadAgent;

/// <summary>What the agent's tasks did, counted as they go; written as one JSON line at the end.</summary>
internal sealed class AgentSummary
{
    private static readonly JsonSerializerOptions s_json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    private readonly ConcurrentDictionary<string, int> _denied = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _errors = new(StringComparer.Ordinal);
    private int _warmUps;
    private int _calls;
    private int _allowed;
    private long _allowedCents;

    /// <summary>The charges allowed so far.</summary>
    public int AllowedSoFar => Volatile.Read(ref _allowed);

    /// <summary>The read made before the charges, outside any run.</summary>
    public void WarmedUp() => Interlocked.Increment(ref _warmUps);

    public void Allowed(long cents)
    {
        Interlocked.Increment(ref _calls);
        Interlocked.Increment(ref _allowed);
        Interlocked.Add(ref _allowedCents, cents);
    }

    public void Denied(string reason)
    {
        Interlocked.Increment(ref _calls);
        _denied.AddOrUpdate(reason, 1, (_, count) => count + 1);
    }

    /// <summary>A call that failed other than by a Keybrake denial (the stub answered an error, the connection broke).</summary>
    public void Failed(string what)
    {
        Interlocked.Increment(ref _calls);
        _errors.AddOrUpdate(what, 1, (_, count) => count + 1);
    }

    public string ToJson(string? runId) => JsonSerializer.Serialize(
        new
        {
            RunId = runId,
            WarmUps = _warmUps,
            Calls = _calls,
            Allowed = _allowed,
            AllowedCents = _allowedCents,
            Denied = new SortedDictionary<string, int>(_denied, StringComparer.Ordinal),
            Errors = new SortedDictionary<string, int>(_errors, StringComparer.Ordinal),
        },
        s_json);
}
