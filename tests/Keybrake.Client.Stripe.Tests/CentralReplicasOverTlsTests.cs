using Keybrake.Client.Central;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Postgres;
using Keybrake.Client.TestUtilities.Stripe;
using Keybrake.Client.TestUtilities.Tls;

namespace Keybrake.Client.Stripe.Tests;

/// <summary>
/// Two replicas of the service on one PostgreSQL database, listening with TLS, their certificates (from a private CA)
/// naming <c>budget.internal</c> only, while the guard dials them by IP address: the name the certificates are
/// checked against is <c>Keybrake:BudgetService:TlsHostName</c>, and without it the certificates do not match.
/// </summary>
[NonParallelizable]
public sealed class CentralReplicasOverTlsTests
{
    private const string KeyId = "tls-replicas-agent";
    private const string HostName = "budget.internal";

    [Test]
    public async Task Charges_go_through_TLS_replicas_whose_certificates_carry_the_TLS_host_name_and_survive_one_of_them_stopping()
    {
        using var certificates = TestCertificates.Create(hostNames: [HostName]);
        using var stub = StripeStub.Start();
        var (first, second) = await StartReplicasAsync(certificates);
        await using var secondReplica = second;
        await using var host = CentralStripeHost.Start(first.Address, stub.Url, KeyId, certificates.CaPath, o => Replicas(o, first, second, HostName));

        // Amounts that differ: the same charge four times would trip the loop breaker.
        var denials = new List<string?> { await host.ChargeAsync(1000), await host.ChargeAsync(1100) };
        await first.DisposeAsync();
        denials.Add(await host.ChargeAsync(1200));
        denials.Add(await host.ChargeAsync(1300));
        var spend = await Poll.UntilAsync(async () => await host.Admin.GetDailySpendAsync(KeyId), s => s.Reserved == Usd.Zero);

        Assert.Multiple(() =>
        {
            Assert.That(first.Address.Scheme, Is.EqualTo("https"));
            Assert.That(denials, Is.All.Null, "every charge went through, the last two through the replica still running");
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromDollars(46)));
            Assert.That(stub.Received.Count(r => r is { Method: "POST", Path: "/v1/charges" }), Is.EqualTo(4));
        });
    }

    [Test]
    public async Task Without_the_TLS_host_name_certificates_that_do_not_name_the_address_are_refused_and_nothing_is_forwarded()
    {
        using var certificates = TestCertificates.Create(hostNames: [HostName]);
        using var stub = StripeStub.Start();
        var (first, second) = await StartReplicasAsync(certificates);
        await using var firstReplica = first;
        await using var secondReplica = second;
        await using var noHostName = CentralStripeHost.Start(first.Address, stub.Url, KeyId, certificates.CaPath, o => Replicas(o, first, second, tlsHostName: null));
        await using var wrongHostName = CentralStripeHost.Start(first.Address, stub.Url, KeyId, certificates.CaPath, o => Replicas(o, first, second, "other.internal"));

        var withoutName = await noHostName.ChargeAsync(1000);
        var withWrongName = await wrongHostName.ChargeAsync(1000);

        Assert.Multiple(() =>
        {
            Assert.That(withoutName, Is.EqualTo(ReasonCodes.BudgetServiceUnavailable), "127.0.0.1 is not a name the certificates carry");
            Assert.That(withWrongName, Is.EqualTo(ReasonCodes.BudgetServiceUnavailable));
            Assert.That(stub.Received.Where(r => r.Path == "/v1/charges"), Is.Empty, "nothing reached the vendor");
        });
    }

    [Test]
    public async Task A_dns_address_resolves_the_replicas_and_checks_their_certificates_against_the_dns_name()
    {
        // localhost has one record here; what the test shows is the dns:/// path end to end: resolved, TLS, the name checked.
        using var certificates = TestCertificates.Create();
        using var stub = StripeStub.Start();
        var (first, second) = await StartReplicasAsync(certificates);
        await using var firstReplica = first;
        await using var secondReplica = second;
        var dns = new Uri($"dns:///localhost:{first.Address.Port}");
        await using var host = CentralStripeHost.Start(dns, stub.Url, KeyId, certificates.CaPath);
        using var otherCa = TestCertificates.Create("Another CA");
        await using var untrusting = CentralStripeHost.Start(dns, stub.Url, KeyId, otherCa.CaPath);

        var denial = await host.ChargeAsync(1500);
        var refused = await untrusting.ChargeAsync(1600);
        var spend = await Poll.UntilAsync(async () => await host.Admin.GetDailySpendAsync(KeyId), s => s.Reserved == Usd.Zero);

        Assert.Multiple(() =>
        {
            Assert.That(denial, Is.Null, "the charge went through the replica the name resolved to");
            Assert.That(refused, Is.EqualTo(ReasonCodes.BudgetServiceUnavailable), "a certificate from a CA the guard does not trust is refused");
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromDollars(15)));
            Assert.That(stub.Received.Count(r => r is { Method: "POST", Path: "/v1/charges" }), Is.EqualTo(1));
        });
    }

    private static void Replicas(KeybrakeBudgetServiceOptions options, BudgetServiceHost first, BudgetServiceHost second, string? tlsHostName)
    {
        options.Address = null;
        options.Addresses.Add(first.Address);
        options.Addresses.Add(second.Address);
        options.TlsHostName = tlsHostName;
    }

    private static async Task<(BudgetServiceHost First, BudgetServiceHost Second)> StartReplicasAsync(TestCertificates certificates)
    {
        var database = await (await PostgresCluster.SharedAsync()).CreateDatabaseAsync();
        var settings = BudgetServiceHost.Key(KeyId, "100");
        foreach (var (name, value) in certificates.ServiceSettings())
        {
            settings[name] = value;
        }

        // One after the other: the second finds the schema the first applied.
        var first = await BudgetServiceHost.StartAsync(settings, postgres: database);
        try
        {
            return (first, await BudgetServiceHost.StartAsync(settings, postgres: database));
        }
        catch
        {
            await first.DisposeAsync();
            throw;
        }
    }
}
