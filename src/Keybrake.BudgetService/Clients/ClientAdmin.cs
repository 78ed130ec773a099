using System.Globalization;
using Grpc.Core;
using Keybrake.BudgetService.Budget;
using Keybrake.BudgetService.Keys;
using Keybrake.BudgetService.Leases;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Clients;

/// <summary>The admin API's client credential calls: issue (the token shown once), list and revoke.</summary>
internal sealed class ClientAdmin
{
    private readonly ClientRegistry _clients;
    private readonly KeyEventHub _events;
    private readonly LeaseEvents _leases;
    private readonly ILogger<ClientAdmin> _logger;

    public ClientAdmin(ClientRegistry clients, KeyEventHub events, LeaseEvents leases, ILogger<ClientAdmin> logger)
    {
        _clients = clients;
        _events = events;
        _leases = leases;
        _logger = logger;
    }

    public async Task<CreateClientReply> CreateAsync(CreateClientRequest request, CancellationToken cancellationToken)
    {
        if (ClientIds.Problem(request.ClientId) is { } idProblem)
        {
            throw RequestChecks.Invalid(idProblem);
        }

        var keyIds = request.KeyIds.Distinct(StringComparer.Ordinal).ToList();
        var integrations = request.Integrations.Distinct(StringComparer.Ordinal).ToList();
        if (Integrations.KnownIntegrations.Problem(integrations) is { } integrationProblem)
        {
            throw RequestChecks.Invalid(integrationProblem);
        }

        if (ClientIds.ScopeProblem(keyIds, integrations.Count > 0) is { } scopeProblem)
        {
            throw RequestChecks.Invalid(scopeProblem);
        }

        // Keys need not exist yet: an operator may issue the credential before creating its keys. A key created
        // later under one of these ids is in scope from then on.
        // Under the hub's lock, like every change: the replica's own notification of it then finds it held.
        (ServiceClient Client, string Token) created;
        await _events.Changes.WaitAsync(cancellationToken);
        try
        {
            created = await _clients.CreateAsync(request.ClientId, keyIds, integrations, cancellationToken)
                ?? throw new RpcException(new Status(StatusCode.AlreadyExists, $"client '{request.ClientId}' already exists"));
        }
        finally
        {
            _events.Changes.Release();
        }

        Log.ClientCreated(_logger, created.Client.Id, string.Join(',', created.Client.KeyIds));
        if (integrations.Count > 0)
        {
            Integrations.IntegrationLog.CredentialAllowed(_logger, created.Client.Id, string.Join(',', integrations));
        }

        return new CreateClientReply { Client = Info(created.Client), Token = created.Token };
    }

    public ListClientsReply List()
    {
        var reply = new ListClientsReply();
        reply.Clients.AddRange(_clients.All.Select(Info));
        return reply;
    }

    public async Task<ClientInfo> RevokeAsync(ClientActionRequest request, CancellationToken cancellationToken)
    {
        // The credential is refused from here on. Its processes learn it from their streams (CLIENT_REVOKED), apply
        // it and confirm, which is the one call a revoked credential may still make; the streams end after that, or
        // after the bound, so that the revocation is in force in every confirmed process when this returns. Stored and
        // announced under the hub's lock, so that this replica's own notification of it finds it done.
        //
        // With replicas, the confirmations counted are those of this replica's streams: the others hear of the
        // revocation from the database (NOTIFY), refuse the credential from then on, tell their own streams and end
        // them after their own bound, on their own; their confirmations are logged there, not awaited here.
        ServiceClient client;
        KeyEventHub.Published published;
        await _events.Changes.WaitAsync(cancellationToken);
        try
        {
            client = await _clients.RevokeAsync(request.ClientId, cancellationToken)
                ?? throw new RpcException(new Status(StatusCode.NotFound, $"client '{(request.ClientId.Length <= 64 ? request.ClientId : request.ClientId[..64] + "...")}' is not known"));
            published = _events.PublishClientRevoked(client.Id);
        }
        finally
        {
            _events.Changes.Release();
        }

        Log.ClientRevoked(_logger, client.Id);
        KeyEventDelivery delivery;
        try
        {
            await VoidLeasesAsync(client.Id, cancellationToken);
            delivery = await _events.ConfirmAsync(published, cancellationToken);
        }
        finally
        {
            client.EndStreams();
        }

        if (delivery.Unconfirmed.Count > 0)
        {
            Log.ClientRevocationUnconfirmed(_logger, client.Id, delivery.Confirmed, delivery.Processes, string.Join(", ", delivery.Unconfirmed));
        }

        var info = Info(client);
        info.Delivery = delivery;
        return info;
    }

    /// <summary>
    /// The credential's leases stop counting as reserved now, not at their TTL: its processes drop them on
    /// CLIENT_REVOKED and can spend none of it, so holding it would only deny other credentials budget nobody uses.
    /// Only once the credential is refused (stored and in memory, above), so that no lease can be granted to it after
    /// this void: a grant that passed the credential check before the revocation and commits after the void is voided
    /// by the Lease call itself, which looks at the credential again once its grant is stored. Before the confirmations
    /// are awaited, so that the budget is free at once rather than after the slowest process (or the bound).
    /// A failure here does not undo the revocation, which is in force: those leases then end at their TTL, as before.
    /// </summary>
    private async Task VoidLeasesAsync(string clientId, CancellationToken cancellationToken)
    {
        try
        {
            await _leases.VoidCredentialLeasesAsync(clientId, cancellationToken);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            LeaseLog.CredentialLeasesVoidFailed(_logger, clientId, exception);
        }
    }

    private static ClientInfo Info(ServiceClient client)
    {
        var info = new ClientInfo
        {
            ClientId = client.Id,
            Revoked = client.IsRevoked,
            CreatedAt = client.CreatedAt.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
            RevokedAt = client.RevokedAt?.UtcDateTime.ToString("O", CultureInfo.InvariantCulture) ?? string.Empty,
            Source = client.Source == ClientSource.Configuration ? "configuration" : "admin",
        };
        info.KeyIds.AddRange(client.KeyIds);
        info.Integrations.AddRange(client.Integrations);
        return info;
    }
}
