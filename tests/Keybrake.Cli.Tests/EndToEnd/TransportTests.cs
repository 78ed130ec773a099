using Keybrake.Client.TestUtilities.Processes;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Tls;

namespace Keybrake.Cli.Tests.EndToEnd;

/// <summary>
/// The tool against addresses where gRPC cannot happen (the REST port, a TLS port without trust): exit code 4, the
/// code for a service that cannot be reached, with one line saying what is wrong; and over TLS with a private CA.
/// </summary>
[Parallelizable(ParallelScope.Children)]
public sealed class TransportTests
{
    private const string Token = "cli-admin-token-0123456789";

    [Test]
    public async Task Pointed_at_a_port_that_speaks_HTTP1_only_it_exits_4_and_says_so()
    {
        await using var service = await BudgetServiceHost.StartAsync(new Dictionary<string, string?> { ["BudgetService:AdminToken"] = Token }, arguments: ["--urls=http://127.0.0.1:0"]);

        var result = await CliProcess.RunAsync(["keys", "list"], Environment(service.RestAddress));

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(4), result.ToString());
            Assert.That(result.Error.TrimEnd(), Does.StartWith($"error: the server at {service.RestAddress.ToString().TrimEnd('/')} does not speak gRPC (HTTP/2) there"));
            Assert.That(result.Error.TrimEnd(), Does.Not.Contain('\n'));
            Assert.That(result.Out, Is.Empty);
        });
    }

    [Test]
    public async Task Over_TLS_it_trusts_the_private_CA_given_by_ca_file_or_the_environment_and_nothing_else()
    {
        using var certificates = TestCertificates.Create();
        var settings = certificates.ServiceSettings();
        settings["BudgetService:AdminToken"] = Token;
        await using var service = await BudgetServiceHost.StartAsync(settings);
        var environment = Environment(service.Address);

        var withOption = await CliProcess.RunAsync(["keys", "list", "--ca-file", certificates.CaPath], environment);
        var withVariable = await CliProcess.RunAsync(["keys", "list"], new Dictionary<string, string>(environment) { ["KEYBRAKE_CA_FILE"] = certificates.CaPath });
        var untrusted = await CliProcess.RunAsync(["keys", "list"], environment);
        var notACa = await CliProcess.RunAsync(["keys", "list", "--ca-file", certificates.KeyPath], environment);

        Assert.Multiple(() =>
        {
            Assert.That(withOption.ExitCode, Is.Zero, withOption.ToString());
            Assert.That(withVariable.ExitCode, Is.Zero, withVariable.ToString());
            Assert.That(untrusted.ExitCode, Is.EqualTo(4), untrusted.ToString());
            Assert.That(untrusted.Error.TrimEnd(), Does.StartWith($"error: the TLS connection to {service.Address.ToString().TrimEnd('/')} failed").And.EndWith("set --ca-file or KEYBRAKE_CA_FILE)"));
            Assert.That(untrusted.Error.TrimEnd(), Does.Not.Contain('\n'));
            Assert.That(notACa.ExitCode, Is.EqualTo(2), notACa.ToString());
            Assert.That(notACa.Error, Does.StartWith("error: --ca-file: "));
        });
    }

    private static Dictionary<string, string> Environment(Uri server) => new() { ["KEYBRAKE_SERVER"] = server.ToString(), ["KEYBRAKE_ADMIN_TOKEN"] = Token };
}
