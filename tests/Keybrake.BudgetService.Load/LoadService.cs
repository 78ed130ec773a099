using System.Buffers.Binary;
using System.Net;
using Google.Protobuf;
using Grpc.Net.Client;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Tls;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Load;

/// <summary>
/// The service under load: the real budget service in this process on a loopback port, with one key whose
/// daily cap (a billion dollars, the largest the service accepts) no run can reach, so every Authorize is allowed.
/// </summary>
internal static class LoadService
{
    public const string KeyId = "load-agent";

    /// <summary>What every call reserves and settles: USD 20.00, a typical charge.</summary>
    public const long EstimateMicroUsd = 20_000_000;

    /// <param name="directory">The folder for the SQLite file; a temporary one unless given.</param>
    /// <param name="postgres">A PostgreSQL connection string: the service keeps its books there instead.</param>
    public static Task<BudgetServiceHost> StartAsync(string? directory = null, string? postgres = null) =>
        BudgetServiceHost.StartAsync(BudgetServiceHost.Key(KeyId, "1000000000"), directory, postgres: postgres);

    /// <summary>The same service listening with TLS, with the server certificate of <paramref name="certificates"/> (PEM files).</summary>
    public static Task<BudgetServiceHost> StartWithTlsAsync(TestCertificates certificates, string? postgres = null)
    {
        var settings = BudgetServiceHost.Key(KeyId, "1000000000");
        foreach (var (name, value) in certificates.ServiceSettings())
        {
            settings[name] = value;
        }

        return BudgetServiceHost.StartAsync(settings, postgres: postgres);
    }

    /// <summary>
    /// A channel as the guard's is set up: HTTP/2 without TLS (h2c) on loopback, a new connection when one has as many
    /// streams as the server allows. One channel carries every caller, as one guarded process does.
    /// </summary>
    public static GrpcChannel Channel(Uri address) => Channel(address, new SocketsHttpHandler());

    /// <summary>
    /// A channel over TLS as the guard's is with <c>Keybrake:BudgetService:CaCertificatePath</c>: the server's
    /// certificate is verified against the private CA of <paramref name="certificates"/> only.
    /// </summary>
    public static GrpcChannel TlsChannel(Uri address, TestCertificates certificates) => Channel(address, certificates.TrustingHandler());

    private static GrpcChannel Channel(Uri address, SocketsHttpHandler handler)
    {
        handler.EnableMultipleHttp2Connections = true;
        handler.PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan;
        return GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = handler,
            HttpVersion = HttpVersion.Version20,
        });
    }

    /// <summary>
    /// A client of the money path as a guard is: with a client credential the operator issued for the load key
    /// through the admin API, presented on every call (the credential check is part of what is measured).
    /// </summary>
    public static async Task<Protocol.Budget.BudgetClient> ClientAsync(GrpcChannel channel)
    {
        var admin = BudgetServiceHost.AdminClient(channel);
        var issued = await admin.CreateClientAsync(new CreateClientRequest { ClientId = "load-" + Guid.NewGuid().ToString("N")[..8], KeyIds = { KeyId } });
        return BudgetServiceHost.BudgetClient(channel, issued.Token);
    }

    /// <summary>An authorization as the guard sends one for a Stripe charge: a new idempotency key (Stripe.net's are GUIDs) and a request hash.</summary>
    public static AuthorizeRequest Authorize(long sequence) => new()
    {
        KeyId = KeyId,
        IdempotencyKey = Guid.NewGuid().ToString(),
        EstimateMicroUsd = EstimateMicroUsd,
        RequestHash = ByteString.CopyFrom(RequestHash(sequence)),
    };

    /// <summary>A commit of the whole estimate, as the guard sends for a charge that succeeded.</summary>
    public static SettleRequest Commit(string reservationId) => new()
    {
        Settlements = { new Settlement { ReservationId = reservationId, Kind = SettlementKind.Commit, ActualMicroUsd = EstimateMicroUsd } },
    };

    /// <summary>A 16-byte hash that differs per call (the guard's is XxHash128 of the request).</summary>
    public static byte[] RequestHash(long sequence)
    {
        var hash = new byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(hash, sequence);
        BinaryPrimitives.WriteInt64LittleEndian(hash.AsSpan(8), sequence * unchecked((long)0x9E3779B97F4A7C15));
        return hash;
    }
}
