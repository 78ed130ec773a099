using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Keybrake.BudgetService.Hosting;
using Keybrake.BudgetService.Keys;
using Keybrake.BudgetService.Store;
using Keybrake.Client;
using Keybrake.Protocol;
using Microsoft.Extensions.Options;

namespace Keybrake.BudgetService.Budget;

/// <summary>Operator reads and actions: spend by day or run, unsettled reservations, revocation.</summary>
internal sealed class BudgetAdminGrpcService : BudgetAdmin.BudgetAdminBase
{
    private readonly IBudgetStore _store;
    private readonly ServiceKeys _keys;
    private readonly TimeProvider _time;
    private readonly IOptionsMonitor<BudgetServiceOptions> _options;
    private readonly ILogger<BudgetAdminGrpcService> _logger;

    public BudgetAdminGrpcService(IBudgetStore store, ServiceKeys keys, TimeProvider time, IOptionsMonitor<BudgetServiceOptions> options, ILogger<BudgetAdminGrpcService> logger)
    {
        _store = store;
        _keys = keys;
        _time = time;
        _options = options;
        _logger = logger;
    }

    public override async Task<SpendReply> GetDailySpend(DailySpendRequest request, ServerCallContext context)
    {
        Authorize(context);
        var key = Key(request.KeyId);
        var day = request.Day.Length == 0
            ? DayWindow.DayOf(_time.GetUtcNow(), key.Policy.TimeZone)
            : DateOnly.TryParseExact(request.Day, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var parsed)
                ? parsed
                : throw RequestChecks.Invalid("day must be yyyy-MM-dd");
        var spend = await _store.GetDaySpendAsync(key.Id, day, context.CancellationToken);
        return new SpendReply
        {
            KeyId = key.Id,
            CapMicroUsd = key.Policy.DailyCap.Micros,
            SettledMicroUsd = spend.SettledMicroUsd,
            ReservedMicroUsd = spend.ReservedMicroUsd,
            Day = day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        };
    }

    public override async Task<SpendReply> GetRunSpend(RunSpendRequest request, ServerCallContext context)
    {
        Authorize(context);
        var key = Key(request.KeyId);
        RequestChecks.Id(request.RunId, "run_id");
        var spend = await _store.GetRunSpendAsync(key.Id, request.RunId, context.CancellationToken);
        var reply = new SpendReply { KeyId = key.Id, SettledMicroUsd = spend.SettledMicroUsd, ReservedMicroUsd = spend.ReservedMicroUsd, RunId = request.RunId };
        if (key.Policy.RunCap is { } cap)
        {
            reply.CapMicroUsd = cap.Micros;
        }

        return reply;
    }

    public override async Task<ListUnsettledReply> ListUnsettled(ListUnsettledRequest request, ServerCallContext context)
    {
        Authorize(context);
        RequestChecks.Id(request.KeyId, "key_id", required: false);
        var list = await _store.ListUnsettledAsync(request.KeyId.Length == 0 ? null : request.KeyId, context.CancellationToken);
        var reply = new ListUnsettledReply();
        foreach (var reservation in list)
        {
            reply.Reservations.Add(new Protocol.UnsettledReservation
            {
                ReservationId = reservation.ReservationId,
                KeyId = reservation.KeyId,
                RunId = reservation.RunId ?? string.Empty,
                IdempotencyKey = reservation.IdempotencyKey,
                EstimateMicroUsd = reservation.EstimateMicroUsd,
                Day = reservation.Day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                CreatedUnixMicros = reservation.CreatedAt.ToUnixTimeMilliseconds() * 1000,
            });
        }

        return reply;
    }

    public override async Task<ResolveReservationReply> ResolveReservation(ResolveReservationRequest request, ServerCallContext context)
    {
        Authorize(context);
        RequestChecks.Id(request.ReservationId, "reservation_id");
        long? actual = request.HasActualMicroUsd ? request.ActualMicroUsd : null;
        if (actual is { } amount)
        {
            RequestChecks.Amount(amount, "actual_micro_usd");
        }

        if (!await _store.ResolveAsync(request.ReservationId, actual, _time.GetUtcNow(), context.CancellationToken))
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"no unsettled reservation has id '{request.ReservationId}'"));
        }

        return new ResolveReservationReply();
    }

    public override Task<KeyInfo> RevokeKey(KeyActionRequest request, ServerCallContext context) => SetRevokedAsync(request.KeyId, revoked: true, context);

    public override Task<KeyInfo> RestoreKey(KeyActionRequest request, ServerCallContext context) => SetRevokedAsync(request.KeyId, revoked: false, context);

    private async Task<KeyInfo> SetRevokedAsync(string keyId, bool revoked, ServerCallContext context)
    {
        Authorize(context);
        var key = Key(keyId);
        await _store.SetRevokedAsync(key.Id, revoked, _time.GetUtcNow(), context.CancellationToken);
        Log.RevocationChanged(_logger, key.Id, revoked);
        return new KeyInfo { KeyId = key.Id, Vendor = key.Vendor, Revoked = revoked };
    }

    private ServiceKey Key(string keyId)
    {
        RequestChecks.Id(keyId, "key_id");
        return _keys.Find(keyId) ?? throw RequestChecks.UnknownKey(keyId);
    }

    /// <summary>With an admin token configured, the call must present it; compared in constant time.</summary>
    private void Authorize(ServerCallContext context)
    {
        if (_options.CurrentValue.AdminToken is not { Length: > 0 } token)
        {
            return;
        }

        var presented = context.RequestHeaders.GetValue("authorization") is { } header && header.StartsWith("Bearer ", StringComparison.Ordinal)
            ? header["Bearer ".Length..]
            : string.Empty;
        if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), Encoding.UTF8.GetBytes(token)))
        {
            Log.AdminRejected(_logger, context.Method);
            throw new RpcException(new Status(StatusCode.Unauthenticated, "a valid admin token is required"));
        }
    }
}
