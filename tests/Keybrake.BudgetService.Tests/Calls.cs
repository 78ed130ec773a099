using Google.Protobuf;
using Usd = Keybrake.Policies.Usd;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Tests;

/// <summary>Requests as a guard would send them, in dollars for reading.</summary>
internal static class Calls
{
    /// <summary>Dollars as the micro-USD the protocol carries.</summary>
    public static long Dollars(decimal dollars) => (long)(dollars * Usd.MicrosPerDollar);

    /// <summary>An authorization with its own idempotency key unless one is given; <paramref name="request"/> stands for the request body the hash covers.</summary>
    public static AuthorizeRequest Authorize(string keyId, decimal dollars, string? idempotencyKey = null, string runId = "", int request = 1) => new()
    {
        KeyId = keyId,
        RunId = runId,
        IdempotencyKey = idempotencyKey ?? NewIdempotencyKey(),
        EstimateMicroUsd = Dollars(dollars),
        RequestHash = Hash(request),
    };

    /// <summary>A 16-byte request hash that differs for each <paramref name="request"/>.</summary>
    public static ByteString Hash(int request)
    {
        var bytes = new byte[16];
        BitConverter.TryWriteBytes(bytes, request);
        bytes[15] = 0x5A;
        return ByteString.CopyFrom(bytes);
    }

    public static string NewIdempotencyKey() => "idem_" + Guid.NewGuid().ToString("N");

    public static Settlement Commit(string reservationId, decimal dollars) =>
        new() { ReservationId = reservationId, Kind = SettlementKind.Commit, ActualMicroUsd = Dollars(dollars) };

    public static Settlement Release(string reservationId) =>
        new() { ReservationId = reservationId, Kind = SettlementKind.Release };
}
