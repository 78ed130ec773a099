namespace Keybrake.BudgetService.Alerts;

/// <summary>
/// What the RPCs need of alerts, in one constructor argument: the signals they raise, and for the admin API the store
/// of fired alerts, the webhooks and their sender. Injected, so that a call made in process (the console's) works like
/// one that came over the network.
/// </summary>
internal sealed class AlertParts(AlertSignals signals, IAlertStore store, AlertWebhooks webhooks, AlertSender sender)
{
    public AlertSignals Signals { get; } = signals;

    public IAlertStore Store { get; } = store;

    public AlertWebhooks Webhooks { get; } = webhooks;

    public AlertSender Sender { get; } = sender;
}
