using Grpc.Core;
using Keybrake.Protocol;

namespace Keybrake.Client.TestUtilities.FakeBudget;

/// <summary>
/// The <c>Budget</c> calls a guard makes, answered from <see cref="FakeBudgetState"/>. What a test of the guard does not
/// need (duties, deferred objects) stays unimplemented.
/// </summary>
internal sealed class FakeBudgetGrpc(FakeBudgetState state) : Budget.BudgetBase
{
    private static readonly TimeSpan s_heartbeat = TimeSpan.FromMilliseconds(500);

    public override Task<VendorSecretReply> GetVendorSecret(GetVendorSecretRequest request, ServerCallContext context)
    {
        Authenticate(context);
        return state.SecretAsync(request.KeyId);
    }

    public override Task<KeyPolicyReply> GetKeyPolicy(GetKeyPolicyRequest request, ServerCallContext context)
    {
        Authenticate(context);
        if (!state.TryGetKey(request.KeyId, out var key))
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"key '{request.KeyId}' is not known to the budget service"));
        }

        return Task.FromResult(new KeyPolicyReply
        {
            KeyId = key.KeyId,
            Vendor = key.Vendor,
            Version = key.PolicyVersion,
            Revoked = key.Revoked,
            Policy = new Policy { DailyCapMicroUsd = key.DailyCapMicros, LoopBreakerMaxRepeats = 0, Lease = key.Lease },
        });
    }

    public override Task<KeyStatusReply> GetKeyStatus(KeyStatusRequest request, ServerCallContext context)
    {
        Authenticate(context);
        var reply = new KeyStatusReply();
        foreach (var keyId in request.KeyIds)
        {
            var known = state.TryGetKey(keyId, out var key);
            reply.Keys.Add(new KeyStatus { KeyId = keyId, Known = known, Revoked = known && key.Revoked });
        }

        return Task.FromResult(reply);
    }

    public override async Task WatchKeys(WatchKeysRequest request, IServerStreamWriter<KeyEvent> responseStream, ServerCallContext context)
    {
        Authenticate(context);
        var subscriberId = Guid.NewGuid().ToString("N");
        var events = state.Subscribe(subscriberId);
        try
        {
            await responseStream.WriteAsync(state.Snapshot(subscriberId));
            while (!context.CancellationToken.IsCancellationRequested)
            {
                using var tick = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
                tick.CancelAfter(s_heartbeat);
                KeyEvent next;
                try
                {
                    if (!await events.Reader.WaitToReadAsync(tick.Token))
                    {
                        return; // the service is stopping
                    }

                    next = await events.Reader.ReadAsync(context.CancellationToken);
                }
                catch (OperationCanceledException) when (!context.CancellationToken.IsCancellationRequested)
                {
                    next = new KeyEvent { Kind = KeyEventKind.Heartbeat };
                }

                await responseStream.WriteAsync(next);
            }
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            // the guard closed the stream
        }
        finally
        {
            state.Unsubscribe(subscriberId);
        }
    }

    public override Task<AcknowledgeKeyEventsReply> AcknowledgeKeyEvents(AcknowledgeKeyEventsRequest request, ServerCallContext context)
    {
        // The one call a revoked credential may still make.
        Authenticate(context, evenRevoked: true);
        return Task.FromResult(new AcknowledgeKeyEventsReply { Known = state.Acknowledge(request.SubscriberId, request.Sequence) });
    }

    public override Task<AuthorizeReply> Authorize(AuthorizeRequest request, ServerCallContext context)
    {
        Authenticate(context);
        return state.AuthorizeAsync(request);
    }

    public override Task<SettleReply> Settle(SettleRequest request, ServerCallContext context)
    {
        Authenticate(context);
        return Task.FromResult(state.Settle(request));
    }

    public override Task<LeaseReply> Lease(LeaseRequest request, ServerCallContext context)
    {
        Authenticate(context);
        return Task.FromResult(state.Lease(request));
    }

    public override Task<FindObjectReply> FindObject(FindObjectRequest request, ServerCallContext context)
    {
        Authenticate(context);
        return Task.FromResult(new FindObjectReply { Found = false });
    }

    public override Task<RememberObjectsReply> RememberObjects(RememberObjectsRequest request, ServerCallContext context)
    {
        Authenticate(context);
        return Task.FromResult(new RememberObjectsReply());
    }

    public override Task<SubmitAuditReply> SubmitAudit(SubmitAuditRequest request, ServerCallContext context)
    {
        Authenticate(context);
        if (state.AuditUnavailable)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "audit intake is down"));
        }

        state.Record(request.Records);
        return Task.FromResult(new SubmitAuditReply { Stored = request.Records.Count });
    }

    public override Task<PingReply> Ping(PingRequest request, ServerCallContext context)
    {
        Authenticate(context);
        return Task.FromResult(new PingReply());
    }

    private void Authenticate(ServerCallContext context, bool evenRevoked = false)
    {
        if (context.RequestHeaders.GetValue("authorization") != "Bearer " + state.ClientToken)
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, "a valid client credential is required"));
        }

        if (state.ClientRevoked && !evenRevoked)
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, "the client credential is revoked"));
        }
    }
}
