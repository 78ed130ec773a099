namespace Keybrake.Client.Twilio;

/// <summary>
/// Stops the reconciler's election before the budget service client stops. The container disposes singletons in the
/// reverse order it made them; the reconciler is made before the client (which it reaches lazily), so on its own it
/// would stop after it: its loop could renew the duty just after the client gave it up as it stopped, and its own
/// release would then find the client gone, leaving a claim that blocks the other processes for the election TTL.
/// This object is made once the client exists (after the first claim), so it is disposed before the client, and stops
/// the loop and gives the duties up while the client still works.
/// </summary>
internal sealed class TwilioReconcilerShutdown(TwilioPriceReconciler reconciler) : IAsyncDisposable
{
    public ValueTask DisposeAsync() => reconciler.StopElectionAsync();
}
