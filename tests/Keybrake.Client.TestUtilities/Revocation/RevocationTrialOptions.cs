namespace Keybrake.Client.TestUtilities.Revocation;

/// <summary>How <see cref="RevocationTrials"/> sets up its agents and paces its trials.</summary>
public sealed record RevocationTrialOptions
{
    /// <summary>Agent processes (default 8).</summary>
    public int Processes { get; init; } = 8;

    /// <summary>Concurrent calling tasks in each agent (default 2).</summary>
    public int TasksPerProcess { get; init; } = 2;

    /// <summary>Every n-th call of a task is a small charge, the rest reads; 0 for reads only (default 0).</summary>
    public int ChargeEvery { get; init; }

    /// <summary>How long a task waits after an allowed call (default 5 ms): calls keep coming without saturating the machine.</summary>
    public TimeSpan PauseAfterAllowed { get; init; } = TimeSpan.FromMilliseconds(5);

    /// <summary>How long a task waits after a denial, which costs nothing and would otherwise spin (default 2 ms).</summary>
    public TimeSpan PauseAfterDenial { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>How long the key stays revoked once every agent has seen it, so agents call against the revocation (default 200 ms).</summary>
    public TimeSpan RevokedFor { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The least time the key stays restored before the next revocation; up to as much again is added at random (default 200 ms).</summary>
    public TimeSpan AllowedFor { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>How long an agent may take to report a revocation or a restoration before the run fails (default 10 s).</summary>
    public TimeSpan TransitionTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Requests the Stripe stand-in keeps in its log; <see langword="null"/> for all (default). A long run keeps fewer.</summary>
    public int? StubLogLimit { get; init; }

    /// <summary>Seeds the pauses between trials and the agents' amounts.</summary>
    public int Seed { get; init; }

    /// <summary>Revoke through the REST path (as curl would) rather than gRPC (default false).</summary>
    public bool RevokeOverRest { get; init; }

    /// <summary>
    /// The service's <c>BudgetService:KeyEventAckTimeout</c>: how long a revoke call waits for every agent to confirm;
    /// <see langword="null"/> for the service's default (1 s).
    /// </summary>
    public TimeSpan? KeyEventAckTimeout { get; init; }

    /// <summary>
    /// The PostgreSQL database (a connection string) the service keeps its books in; <see langword="null"/> for its
    /// SQLite file (default).
    /// </summary>
    public string? Postgres { get; init; }

    /// <summary>
    /// Service replicas, each its own process, on <see cref="Postgres"/> (default 1). Agent i calls and watches replica
    /// i mod <see cref="Replicas"/>; the key is revoked and restored through the first.
    /// </summary>
    public int Replicas { get; init; } = 1;

    /// <summary>Whether the key's policy leases its budget (<c>Lease:Enabled</c>): the agents' charges are then decided on their leases.</summary>
    public bool Leases { get; init; }
}
