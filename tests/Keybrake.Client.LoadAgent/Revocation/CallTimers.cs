using System.Diagnostics;
using System.Globalization;

namespace Keybrake.Client.LoadAgent.Revocation;

/// <summary>One call's passage through the guard, as the two timers see it.</summary>
internal sealed class GuardPassage
{
    /// <summary>When the call entered the guard (<see cref="Stopwatch.GetTimestamp"/>).</summary>
    public long Started { get; set; }

    /// <summary>When the guard let it through to the vendor (0: it did not): the guard had decided by then.</summary>
    public long Forwarded { get; set; }
}

/// <summary>
/// The handler in front of the guard: stamps each call as it enters the guard and hands the guard's answer to the
/// tracker the moment it comes back. The guard decides a call between the two (a read: at once, from the key's
/// state in the process; a charge: when Authorize answers), so the two stamps bracket the decision.
/// </summary>
internal sealed class GuardEntryTimer(RevocationTracker tracker, AsyncLocal<GuardPassage?> current) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var kind = request.Method == HttpMethod.Get ? CallKind.Read : CallKind.Charge;

        // Set here, it flows down into the guard and the timer behind it, and not back up.
        var passage = new GuardPassage();
        current.Value = passage;
        passage.Started = Stopwatch.GetTimestamp();
        HttpResponseMessage response;
        try
        {
            response = await base.SendAsync(request, cancellationToken);
        }
        catch (Exception exception) when (exception is HttpRequestException or OperationCanceledException)
        {
            // The stub did not answer; what counts here is whether the guard had let the call through.
            tracker.Record(kind, passage.Started, passage.Forwarded, passage.Forwarded != 0 ? null : "no_answer", failed: true);
            throw;
        }

        var denial = response.Headers.TryGetValues(KeybrakeHeaders.Decision, out var reasons) ? reasons.FirstOrDefault() : null;
        tracker.Record(kind, passage.Started, passage.Forwarded, denial, failed: false);
        return response;
    }
}

/// <summary>
/// The handler behind the guard, in front of the network: it sees only the calls the guard let through, and labels
/// each with the process and the moment the call entered the guard, so the Stripe stand-in's request log can be
/// checked against the revocations without trusting the agent's own bookkeeping.
/// </summary>
internal sealed class VendorSendTimer(AsyncLocal<GuardPassage?> current) : DelegatingHandler
{
    public const string StartedHeader = "X-Agent-Call-Started";
    public const string ForwardedHeader = "X-Agent-Call-Forwarded";
    public const string ProcessHeader = "X-Agent-Process";

    private static readonly string s_process = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (current.Value is { } passage)
        {
            passage.Forwarded = Stopwatch.GetTimestamp();
            request.Headers.TryAddWithoutValidation(StartedHeader, passage.Started.ToString(CultureInfo.InvariantCulture));
            request.Headers.TryAddWithoutValidation(ForwardedHeader, passage.Forwarded.ToString(CultureInfo.InvariantCulture));
            request.Headers.TryAddWithoutValidation(ProcessHeader, s_process);
        }

        return base.SendAsync(request, cancellationToken);
    }
}
