using System.Net;
using System.Net.Http.Headers;
using System.Security.Authentication;
using Grpc.Core;
using Grpc.Net.Client;
using Keybrake.BudgetService.Hosting;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Logging;
using Keybrake.Client.TestUtilities.Processes;
using Keybrake.Client.TestUtilities.Tls;
using Keybrake.Protocol;
using Microsoft.Extensions.Logging;

namespace Keybrake.BudgetService.Tests;

/// <summary>
/// The service with a certificate from its configuration, signed by a CA the test makes: clients that trust the CA
/// talk gRPC and REST on one port; clients that do not refuse the server; cleartext where other hosts can reach
/// the service refuses to start unless the operator opts out, which is logged as a warning.
/// </summary>
public sealed class TlsTests
{
    [Test]
    public async Task Over_TLS_a_client_that_trusts_the_private_CA_calls_gRPC_and_REST_on_one_port()
    {
        using var certificates = TestCertificates.Create();
        await using var service = await BudgetServiceHost.StartAsync(TestService.Settings(BudgetServiceHost.Key("agent", "100"), certificates.ServiceSettings()));
        using var channel = GrpcChannel.ForAddress(service.Address, new GrpcChannelOptions { HttpHandler = certificates.TrustingHandler() });
        var budget = BudgetServiceHost.BudgetClient(channel);

        var status = await budget.GetKeyStatusAsync(new KeyStatusRequest { KeyIds = { "agent" } });
        using var http = new HttpClient(certificates.TrustingHandler()) { BaseAddress = service.Address, DefaultRequestVersion = HttpVersion.Version11 };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BudgetServiceHost.AdminToken);
        using var rest = await http.GetAsync("/v1/keys");

        Assert.Multiple(async () =>
        {
            Assert.That(service.Address.Scheme, Is.EqualTo("https"));
            Assert.That(status.Keys.Single().Known, Is.True);
            Assert.That(rest.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(rest.Version, Is.EqualTo(HttpVersion.Version11), "curl's HTTP/1.1 on the gRPC port, chosen by ALPN");
            Assert.That(await rest.Content.ReadAsStringAsync(), Does.Contain("\"agent\""));
        });
    }

    [Test]
    public async Task A_PKCS12_certificate_with_its_password_works_too()
    {
        using var certificates = TestCertificates.Create();
        var settings = TestService.Settings(BudgetServiceHost.Key("agent", "100"), new Dictionary<string, string?>
        {
            ["BudgetService:Tls:CertificatePath"] = certificates.PfxPath,
            ["BudgetService:Tls:Password"] = TestCertificates.PfxPassword,
        });
        await using var service = await BudgetServiceHost.StartAsync(settings);
        using var channel = GrpcChannel.ForAddress(service.Address, new GrpcChannelOptions { HttpHandler = certificates.TrustingHandler() });

        var reply = await BudgetServiceHost.BudgetClient(channel).PingAsync(new PingRequest());

        Assert.That(reply, Is.Not.Null);
    }

    [Test]
    public async Task A_client_that_does_not_trust_the_CA_refuses_the_server_and_sends_nothing()
    {
        using var certificates = TestCertificates.Create();
        using var otherCa = TestCertificates.Create("Another CA");
        await using var service = await BudgetServiceHost.StartAsync(TestService.Settings(BudgetServiceHost.Key("agent", "100"), certificates.ServiceSettings()));
        using var systemRoots = GrpcChannel.ForAddress(service.Address);
        using var wrongCa = GrpcChannel.ForAddress(service.Address, new GrpcChannelOptions { HttpHandler = otherCa.TrustingHandler() });

        var bySystemRoots = Assert.ThrowsAsync<RpcException>(async () => await BudgetServiceHost.BudgetClient(systemRoots).PingAsync(new PingRequest()));
        var byWrongCa = Assert.ThrowsAsync<RpcException>(async () => await BudgetServiceHost.BudgetClient(wrongCa).PingAsync(new PingRequest()));

        Assert.Multiple(() =>
        {
            Assert.That(Causes(bySystemRoots!), Has.Some.InstanceOf<AuthenticationException>(), "the handshake failed: the system's roots do not include the test's CA");
            Assert.That(Causes(byWrongCa!), Has.Some.InstanceOf<AuthenticationException>(), "the handshake failed: another CA signed nothing here");
        });
    }

    [TestCase("--BudgetService:ListenAddress=0.0.0.0", "http://0.0.0.0:")]
    [TestCase("--urls=http://0.0.0.0:0", "http://0.0.0.0:")]
    [TestCase("--urls=http://*:0", "http://0.0.0.0:")]
    public void Cleartext_on_an_address_other_hosts_can_reach_refuses_to_start(string argument, string named)
    {
        var failure = Assert.CatchAsync<ServiceStartException>(async () => await BudgetServiceHost.StartAsync(BudgetServiceHost.Key("agent", "100"), arguments: [argument]));

        Assert.Multiple(() =>
        {
            Assert.That(failure!.Message, Does.StartWith("refusing to listen without TLS on " + named));
            Assert.That(failure.Message, Does.Contain("BudgetService:Tls:CertificatePath").And.Contain("BudgetService:AllowInsecureNetwork=true"));
            Assert.That(failure.Message, Does.Not.Contain('\n'));
        });
    }

    [Test]
    public async Task With_the_explicit_opt_out_it_starts_on_every_interface_and_warns()
    {
        using var logs = new CapturingLoggerProvider();
        var settings = TestService.Settings(BudgetServiceHost.Key("agent", "100"), new Dictionary<string, string?> { ["BudgetService:AllowInsecureNetwork"] = "true" });
        await using var service = await BudgetServiceHost.StartAsync(settings, arguments: ["--BudgetService:ListenAddress=0.0.0.0"], configure: builder => builder.Logging.AddProvider(logs));
        using var channel = GrpcChannel.ForAddress(new Uri($"http://127.0.0.1:{service.Address.Port}"));

        await BudgetServiceHost.BudgetClient(channel).PingAsync(new PingRequest());

        var warnings = logs.Logs.Where(log => log.Level == LogLevel.Warning && log.Message.StartsWith("INSECURE", StringComparison.Ordinal)).Select(log => log.Message).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(service.Address.Host, Is.EqualTo("0.0.0.0"));
            Assert.That(warnings, Has.Count.EqualTo(2), "one for the gRPC port and one for the REST port");
            Assert.That(warnings, Has.All.Contain("http://0.0.0.0:").And.All.Contain("without TLS"));
        });
    }

    [Test]
    public async Task The_service_process_says_why_it_will_not_start_in_one_line_and_exits_1()
    {
        var directory = Directory.CreateTempSubdirectory("keybrake-budget-insecure-").FullName;
        try
        {
            await using var process = DotnetProcess.Start(
                "Keybrake.BudgetService.dll",
                ["--BudgetService:ListenAddress=0.0.0.0", "--BudgetService:Port=0", "--BudgetService:RestPort=-1", $"--BudgetService:StoragePath={Path.Combine(directory, "budget.db")}", $"--BudgetService:AdminToken={BudgetServiceHost.AdminToken}"],
                workingDirectory: directory);

            var exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));

            var errors = process.Diagnostics[(process.Diagnostics.IndexOf("stderr:\n", StringComparison.Ordinal) + "stderr:\n".Length)..].Trim();
            Assert.Multiple(() =>
            {
                Assert.That(exitCode, Is.EqualTo(1));
                Assert.That(errors, Does.StartWith("error: refusing to listen without TLS on http://0.0.0.0:"));
                Assert.That(errors, Does.Not.Contain('\n'), "one line, no stack trace");
            });
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Test]
    public void A_missing_certificate_file_is_named_in_one_line()
    {
        var missing = Path.Combine(Path.GetTempPath(), "keybrake-no-such-certificate.pem");
        var settings = TestService.Settings(BudgetServiceHost.Key("agent", "100"), new Dictionary<string, string?> { ["BudgetService:Tls:CertificatePath"] = missing });

        var failure = Assert.CatchAsync<ServiceStartException>(async () => await BudgetServiceHost.StartAsync(settings));

        Assert.That(failure!.Message, Is.EqualTo($"BudgetService:Tls:CertificatePath: no certificate file at {missing}"));
    }

    private static IEnumerable<Exception> Causes(Exception exception)
    {
        for (Exception? cause = exception is RpcException rpc ? rpc.Status.DebugException : exception; cause is not null; cause = cause.InnerException)
        {
            yield return cause;
        }
    }
}
