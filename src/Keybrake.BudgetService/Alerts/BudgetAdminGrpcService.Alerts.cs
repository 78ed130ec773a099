using System.Globalization;
using Grpc.Core;
using Keybrake.BudgetService.Alerts;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Budget;

/// <summary>The admin RPCs of alerts: what fired and whether it reached its webhooks, and a test alert sent now.</summary>
internal sealed partial class BudgetAdminGrpcService
{
    private const int DefaultAlertLimit = 100;
    private const int MaxAlertLimit = 1000;

    public override async Task<ListAlertsReply> ListAlerts(ListAlertsRequest request, ServerCallContext context)
    {
        if (request.Limit is < 0 or > MaxAlertLimit)
        {
            throw RequestChecks.Invalid($"limit must be from 0 (the default, {DefaultAlertLimit}) to {MaxAlertLimit}");
        }

        var alerts = await _alerts.Store.ListAsync(request.UndeliveredOnly, request.Limit == 0 ? DefaultAlertLimit : request.Limit, context.CancellationToken);
        var reply = new ListAlertsReply();
        foreach (var listed in alerts)
        {
            var alert = listed.Alert;
            var info = new AlertInfo
            {
                AlertId = alert.AlertId,
                Type = alert.Type,
                KeyId = alert.KeyId,
                Scope = alert.Scope ?? string.Empty,
                Window = alert.Window ?? string.Empty,
                ThresholdPercent = alert.ThresholdPercent ?? 0,
                Message = alert.Message,
                CreatedAt = Time(alert.CreatedAt),
                PayloadJson = alert.Payload,
            };
            foreach (var delivery in listed.Deliveries)
            {
                info.Deliveries.Add(new AlertDeliveryInfo
                {
                    Webhook = delivery.Webhook,
                    State = delivery.State switch
                    {
                        DeliveryState.Delivered => "delivered",
                        DeliveryState.Failed => "failed",
                        _ => "pending",
                    },
                    Attempts = delivery.Attempts,
                    LastError = delivery.LastError ?? string.Empty,
                    NextAttemptAt = delivery.State == DeliveryState.Pending && delivery.NextAttemptAt is { } next ? Time(next) : string.Empty,
                    DeliveredAt = delivery.DeliveredAt is { } delivered ? Time(delivered) : string.Empty,
                });
            }

            reply.Alerts.Add(info);
        }

        return reply;
    }

    public override async Task<TestFireAlertReply> TestFireAlert(TestFireAlertRequest request, ServerCallContext context)
    {
        var webhooks = _alerts.Webhooks;
        IReadOnlyList<Webhook> targets;
        if (request.Webhook.Length > 0)
        {
            targets = webhooks.Find(request.Webhook) is { } one
                ? [one]
                : throw new RpcException(new Status(StatusCode.NotFound, $"no webhook is named '{RequestChecks.Shown(request.Webhook)}' (see BudgetService:Alerts:Webhooks)"));
        }
        else
        {
            targets = webhooks.All.Count > 0
                ? webhooks.All
                : throw new RpcException(new Status(StatusCode.FailedPrecondition, "no webhook is configured (see BudgetService:Alerts:Webhooks)"));
        }

        var sender = _alerts.Sender;
        var ids = _ids;
        var reply = new TestFireAlertReply();
        foreach (var webhook in targets)
        {
            var alertId = ids.New("alt_test_");
            var message = $"a test alert from the Keybrake budget service to webhook '{webhook.Name}'";
            var payload = AlertPayloads.Json(alertId, AlertTypes.Test, _time.GetUtcNow(), message, new Dictionary<string, object?> { ["webhook"] = webhook.Name });
            var result = await sender.SendAsync(webhook, alertId, message, payload, context.CancellationToken);
            reply.Results.Add(new TestFireResult { Webhook = webhook.Name, Delivered = result.Delivered, StatusCode = result.StatusCode, Error = result.Error ?? string.Empty });
        }

        return reply;
    }

    private static string Time(DateTimeOffset value) => value.UtcDateTime.ToString("O", CultureInfo.InvariantCulture);
}
