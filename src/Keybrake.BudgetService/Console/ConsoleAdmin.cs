using System.Runtime.CompilerServices;
using Grpc.Core;
using Keybrake.BudgetService.Budget;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.OperatorConsole;

/// <summary>
/// The admin API, called in-process for the console's pages: one implementation of every query and action
/// (<see cref="BudgetAdminGrpcService"/>), whether an operator uses the CLI, REST or the console. Its errors are
/// <see cref="RpcException"/>s whose detail the page shows.
/// </summary>
internal sealed class ConsoleAdmin(IServiceProvider services, IHttpContextAccessor http)
{
    private CancellationToken Aborted => http.HttpContext?.RequestAborted ?? CancellationToken.None;

    public Task<ListKeysReply> ListKeysAsync() => Call((admin, context) => admin.ListKeys(new ListKeysRequest(), context));

    public Task<KeyInfo> GetKeyAsync(string keyId) => Call((admin, context) => admin.GetKey(new GetKeyRequest { KeyId = keyId }, context));

    public Task<SpendReply> TodayAsync(string keyId) => Call((admin, context) => admin.GetDailySpend(new DailySpendRequest { KeyId = keyId }, context));

    public Task<QuerySpendReply> SpendAsync(QuerySpendRequest request) => Call((admin, context) => admin.QuerySpend(request, context));

    public Task<RunSummary> RunAsync(string runId) => Call((admin, context) => admin.GetRun(new GetRunRequest { RunId = runId }, context));

    public Task<IReadOnlyList<Store.StoredLlmRunTotal>> LlmRunsAsync(int limit) => Call((admin, context) => admin.ListLlmRunTotals(limit, context));

    public Task<QueryAuditReply> AuditAsync(QueryAuditRequest request) => Call((admin, context) => admin.QueryAudit(request, context));

    public Task<ListUnsettledReply> UnsettledAsync(string keyId = "") => Call((admin, context) => admin.ListUnsettled(new ListUnsettledRequest { KeyId = keyId }, context));

    public Task<ResolveReservationReply> ResolveAsync(ResolveReservationRequest request) => Call((admin, context) => admin.ResolveReservation(request, context));

    public Task<ListAlertsReply> AlertsAsync(bool undeliveredOnly) => Call((admin, context) => admin.ListAlerts(new ListAlertsRequest { UndeliveredOnly = undeliveredOnly }, context));

    public Task<ListClientsReply> ClientsAsync() => Call((admin, context) => admin.ListClients(new ListClientsRequest(), context));

    public Task<KeyInfo> RevokeAsync(string keyId) => Call((admin, context) => admin.RevokeKey(new KeyActionRequest { KeyId = keyId }, context));

    public Task<KeyInfo> RestoreAsync(string keyId) => Call((admin, context) => admin.RestoreKey(new KeyActionRequest { KeyId = keyId }, context));

    /// <summary>Runs one admin call as gRPC would, store faults included: a store that fails is the same one-line refusal.</summary>
    private Task<T> Call<T>(Func<BudgetAdminGrpcService, ServerCallContext, Task<T>> call, [CallerMemberName] string method = "")
        where T : class
    {
        var admin = ActivatorUtilities.CreateInstance<BudgetAdminGrpcService>(services);
        var faults = new StoreFaultInterceptor(services.GetRequiredService<StoreFaults>());
        return faults.UnaryServerHandler<string, T>(method, new ConsoleCallContext("console/" + method, Aborted), (_, context) => call(admin, context));
    }
}
