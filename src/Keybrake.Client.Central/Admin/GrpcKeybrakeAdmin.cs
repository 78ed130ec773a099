using System.Globalization;
using Grpc.Core;
using Grpc.Net.ClientFactory;
using Keybrake.Protocol;
using Microsoft.Extensions.Options;

namespace Keybrake.Client.Central;

/// <summary><see cref="IKeybrakeAdmin"/> in central mode: the budget service's admin calls, with the admin token when one is set.</summary>
internal sealed class GrpcKeybrakeAdmin : IKeybrakeAdmin
{
    private readonly BudgetAdmin.BudgetAdminClient _client;
    private readonly KeybrakeBudgetServiceOptions _options;

    public GrpcKeybrakeAdmin(GrpcClientFactory clients, IOptions<KeybrakeBudgetServiceOptions> options)
    {
        _client = clients.CreateClient<BudgetAdmin.BudgetAdminClient>(BudgetServiceClients.AdminName);
        _options = options.Value;
    }

    public async ValueTask RevokeKeyAsync(string keyId, CancellationToken cancellationToken = default) =>
        await CallAsync(c => c.RevokeKeyAsync(new KeyActionRequest { KeyId = keyId }, Options(cancellationToken)), cancellationToken).ConfigureAwait(false);

    public async ValueTask RestoreKeyAsync(string keyId, CancellationToken cancellationToken = default) =>
        await CallAsync(c => c.RestoreKeyAsync(new KeyActionRequest { KeyId = keyId }, Options(cancellationToken)), cancellationToken).ConfigureAwait(false);

    public async ValueTask<SpendReport> GetDailySpendAsync(string keyId, DateOnly? day = null, CancellationToken cancellationToken = default)
    {
        var request = new DailySpendRequest { KeyId = keyId, Day = day?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) ?? string.Empty };
        var reply = await CallAsync(c => c.GetDailySpendAsync(request, Options(cancellationToken)), cancellationToken).ConfigureAwait(false);
        return ToReport(reply) with { Day = DateOnly.ParseExact(reply.Day, "yyyy-MM-dd", CultureInfo.InvariantCulture) };
    }

    public async ValueTask<SpendReport> GetRunSpendAsync(string keyId, string runId, CancellationToken cancellationToken = default)
    {
        var reply = await CallAsync(c => c.GetRunSpendAsync(new RunSpendRequest { KeyId = keyId, RunId = runId }, Options(cancellationToken)), cancellationToken).ConfigureAwait(false);
        return ToReport(reply) with { RunId = runId };
    }

    public async ValueTask<IReadOnlyList<Client.UnsettledReservation>> ListUnsettledAsync(string? keyId = null, CancellationToken cancellationToken = default)
    {
        var reply = await CallAsync(c => c.ListUnsettledAsync(new ListUnsettledRequest { KeyId = keyId ?? string.Empty }, Options(cancellationToken)), cancellationToken).ConfigureAwait(false);
        return reply.Reservations
            .Select(r => new Client.UnsettledReservation(
                r.ReservationId,
                r.KeyId,
                r.RunId.Length == 0 ? null : r.RunId,
                r.IdempotencyKey,
                Usd.FromMicros(r.EstimateMicroUsd),
                DateOnly.ParseExact(r.Day, "yyyy-MM-dd", CultureInfo.InvariantCulture),
                UnixMicros.ToInstant(r.CreatedUnixMicros)))
            .ToList();
    }

    public async ValueTask ResolveReservationAsync(string reservationId, Usd? actual, CancellationToken cancellationToken = default)
    {
        var request = new ResolveReservationRequest { ReservationId = reservationId };
        if (actual is { } amount)
        {
            request.ActualMicroUsd = amount.Micros;
        }

        await CallAsync(c => c.ResolveReservationAsync(request, Options(cancellationToken)), cancellationToken).ConfigureAwait(false);
    }

    private static SpendReport ToReport(SpendReply reply) => new(
        reply.KeyId,
        reply.HasCapMicroUsd ? Usd.FromMicros(reply.CapMicroUsd) : null,
        Usd.FromMicros(reply.SettledMicroUsd),
        Usd.FromMicros(reply.ReservedMicroUsd))
    {
        Overrun = Usd.FromMicros(reply.OverrunMicroUsd),
    };

    private CallOptions Options(CancellationToken cancellationToken)
    {
        var headers = new Metadata();
        if (_options.AdminToken is { Length: > 0 } token)
        {
            headers.Add("authorization", "Bearer " + token);
        }

        return new CallOptions(headers, BudgetServiceResilience.DeadlineAfter(_options.CallTimeout), cancellationToken);
    }

    /// <summary>
    /// Maps the service's "no such key or reservation" to the <see cref="ArgumentException"/> the admin contract
    /// promises, and a call the caller gave up on to <see cref="OperationCanceledException"/>.
    /// </summary>
    private async Task<T> CallAsync<T>(Func<BudgetAdmin.BudgetAdminClient, AsyncUnaryCall<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call(_client).ResponseAsync.ConfigureAwait(false);
        }
        catch (RpcException exception) when (exception.StatusCode is StatusCode.NotFound or StatusCode.InvalidArgument)
        {
            throw new ArgumentException(exception.Status.Detail, exception);
        }
        catch (RpcException exception) when (exception.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(exception.Status.Detail, exception, cancellationToken);
        }
    }
}
