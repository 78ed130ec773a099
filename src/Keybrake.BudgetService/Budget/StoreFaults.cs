using Grpc.Core;
using Grpc.Core.Interceptors;
using System.Data.Common;

namespace Keybrake.BudgetService.Budget;

/// <summary>
/// A store that cannot be written (a full disk, an I/O error, a database server that does not answer) fails every call closed, as <c>Unavailable</c>,
/// which the clients treat as an outage (<c>budget_service_unavailable</c>). The log hears of it once per
/// episode: one line when the first call fails, with the store's reason, and one when a call succeeds again, with
/// how many failed in between; never a stack trace per call.
/// </summary>
internal sealed class StoreFaults
{
    public const string Refusal = "the budget store cannot be written just now; the call was not counted";

    private readonly Lock _gate = new();
    private readonly ILogger<StoreFaults> _logger;
    private volatile bool _failing;
    private long _failed;

    public StoreFaults(ILogger<StoreFaults> logger) => _logger = logger;

    /// <summary>Whether the store is failing now.</summary>
    public bool Failing => _failing;

    public void Failed(string method, DbException exception)
    {
        lock (_gate)
        {
            _failed++;
            if (!_failing)
            {
                _failing = true;
                Log.StoreFailing(_logger, method, exception.Message.ReplaceLineEndings(" "));
            }
        }
    }

    public void Succeeded()
    {
        if (!_failing)
        {
            return; // the common case costs one read
        }

        lock (_gate)
        {
            if (_failing)
            {
                _failing = false;
                Log.StoreRecovered(_logger, _failed);
                _failed = 0;
            }
        }
    }
}

/// <summary>Turns a store failure in any call into <c>Unavailable</c>, counted by <see cref="StoreFaults"/>.</summary>
internal sealed class StoreFaultInterceptor : Interceptor
{
    private readonly StoreFaults _faults;

    public StoreFaultInterceptor(StoreFaults faults) => _faults = faults;

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            var response = await continuation(request, context);
            _faults.Succeeded();
            return response;
        }
        catch (DbException exception)
        {
            _faults.Failed(context.Method, exception);
            throw new RpcException(new Status(StatusCode.Unavailable, StoreFaults.Refusal));
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (DbException exception)
        {
            _faults.Failed(context.Method, exception);
            throw new RpcException(new Status(StatusCode.Unavailable, StoreFaults.Refusal));
        }
    }
}
