using System.Security.Cryptography;
using System.Text;
using Keybrake.BudgetService.Hosting;
using Microsoft.Extensions.Options;

namespace Keybrake.BudgetService.Telemetry;

/// <summary>
/// The bearer token that may read <c>/metrics</c> (<c>BudgetService:Telemetry:ScrapeToken</c>), compared in fixed time
/// by its hash, as the admin token is. Without one configured it accepts nothing: <c>/metrics</c> then takes the admin
/// token only.
/// </summary>
internal sealed class ScrapeToken
{
    private readonly byte[]? _hash;

    public ScrapeToken(IOptions<BudgetServiceOptions> options)
    {
        var token = options.Value.Telemetry.ScrapeToken?.Trim();
        _hash = string.IsNullOrEmpty(token) ? null : SHA256.HashData(Encoding.UTF8.GetBytes(token));
    }

    public bool Accepts(string? authorizationHeader)
    {
        const string Scheme = "Bearer ";
        if (_hash is null || authorizationHeader is null || !authorizationHeader.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var presented = SHA256.HashData(Encoding.UTF8.GetBytes(authorizationHeader[Scheme.Length..].Trim()));
        return CryptographicOperations.FixedTimeEquals(presented, _hash);
    }
}

/// <summary>Endpoint metadata: the Prometheus scrape endpoint, which the scrape token may read as well as the admin token.</summary>
internal sealed class ScrapeEndpoint;
