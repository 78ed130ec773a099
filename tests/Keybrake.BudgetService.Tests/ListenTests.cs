using System.Net;
using System.Net.Http.Headers;
using Grpc.Net.Client;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Tls;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Tests;

/// <summary>
/// Custom endpoints (<c>--urls</c>) still give a gRPC (HTTP/2) endpoint and a REST (HTTP/1.1) endpoint: the first
/// cleartext URL serves gRPC, a second one (or else <c>BudgetService:RestPort</c>) serves REST, and an https URL
/// serves both.
/// </summary>
public sealed class ListenTests
{
    [Test]
    public async Task One_cleartext_url_serves_gRPC_and_the_REST_port_stays_open_beside_it()
    {
        await using var service = await BudgetServiceHost.StartAsync(BudgetServiceHost.Key("agent", "100"), arguments: ["--urls=http://127.0.0.1:0"]);

        await AssertServesAsync(service, service.Address, service.RestAddress);
    }

    [Test]
    public async Task Two_cleartext_urls_serve_gRPC_on_the_first_and_REST_on_the_second()
    {
        await using var service = await BudgetServiceHost.StartAsync(BudgetServiceHost.Key("agent", "100"), arguments: ["--urls=http://127.0.0.1:0;http://localhost:0", "--BudgetService:RestPort=-1"]);

        await AssertServesAsync(service, service.Address, service.RestAddress);
    }

    [Test]
    public async Task One_https_url_serves_both_on_one_port()
    {
        using var certificates = TestCertificates.Create();
        await using var service = await BudgetServiceHost.StartAsync(
            TestService.Settings(BudgetServiceHost.Key("agent", "100"), certificates.ServiceSettings()),
            arguments: ["--urls=https://127.0.0.1:0"]);

        await AssertServesAsync(service, service.Address, service.Address, certificates);
    }

    [Test]
    public void An_https_url_without_a_certificate_refuses_to_start()
    {
        var failure = Assert.CatchAsync<Hosting.ServiceStartException>(async () =>
            await BudgetServiceHost.StartAsync(BudgetServiceHost.Key("agent", "100"), arguments: ["--urls=https://127.0.0.1:0"]));

        Assert.That(failure!.Message, Is.EqualTo("--urls: 'https://127.0.0.1:0' asks for TLS, but no certificate is configured (set BudgetService:Tls:CertificatePath)"));
    }

    private static async Task AssertServesAsync(BudgetServiceHost service, Uri grpc, Uri rest, TestCertificates? certificates = null)
    {
        using var channel = GrpcChannel.ForAddress(grpc, new GrpcChannelOptions { HttpHandler = certificates?.TrustingHandler() ?? new SocketsHttpHandler() });
        var status = await BudgetServiceHost.BudgetClient(channel).GetKeyStatusAsync(new KeyStatusRequest { KeyIds = { "agent" } });
        using var http = new HttpClient(certificates?.TrustingHandler() ?? new SocketsHttpHandler()) { BaseAddress = rest, DefaultRequestVersion = HttpVersion.Version11 };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BudgetServiceHost.AdminToken);
        using var keys = await http.GetAsync("/v1/keys");

        Assert.Multiple(async () =>
        {
            Assert.That(status.Keys.Single().Known, Is.True, "gRPC answers");
            Assert.That(keys.StatusCode, Is.EqualTo(HttpStatusCode.OK), "REST answers over HTTP/1.1");
            Assert.That(await keys.Content.ReadAsStringAsync(), Does.Contain("\"agent\""));
            Assert.That(service.Address.Host, Is.EqualTo("127.0.0.1"));
        });
    }
}
