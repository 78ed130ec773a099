using Keybrake.Client.TestUtilities.Processes;
using Keybrake.Cli.Tests.Fakes;
using Keybrake.Protocol;

namespace Keybrake.Cli.Tests.EndToEnd;

/// <summary>
/// <c>keys set-secret</c> and <c>keys rotate-secret</c> as a process against a fake BudgetAdmin: the secret goes from
/// standard input to the request exactly, and never into the tool's output, whatever happens.
/// </summary>
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
[Parallelizable(ParallelScope.Children)]
public sealed class KeySecretCommandTests
{
    private const string Secret = "sk_test_51VaultSecretNeverPrinted0123456789";

    private FakeAdminServer _server = null!;
    private Dictionary<string, string> _environment = null!;

    private FakeBudgetAdmin Admin => _server.Admin;

    [SetUp]
    public async Task StartServer()
    {
        _server = await FakeAdminServer.StartAsync();
        _environment = new() { ["KEYBRAKE_SERVER"] = _server.Address.ToString(), ["KEYBRAKE_ADMIN_TOKEN"] = FakeBudgetAdmin.Token };
        Admin.AddKey("refund-agent", "stripe", new Policy { DailyCapMicroUsd = 100_000_000 });
    }

    [TearDown]
    public async Task StopServer() => await _server.DisposeAsync();

    private Task<CliResult> Run(string? input, params string[] args) => CliProcess.RunAsync(args, _environment, standardInput: input);

    [Test]
    public async Task Set_secret_sends_the_line_read_from_standard_input_and_prints_only_its_version()
    {
        var result = await Run(Secret + "\r\n", "keys", "set-secret", "refund-agent");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var request = Admin.Only<SetKeySecretRequest>();
        Assert.Multiple(() =>
        {
            Assert.That(request.KeyId, Is.EqualTo("refund-agent"));
            Assert.That(request.Secret, Is.EqualTo(Secret), "the line without its line ending");
            Assert.That(result.Out, Does.Contain("Stored the vendor secret of refund-agent (v1)"));
            Assert.That(result.Out + result.Error, Does.Not.Contain(Secret));
        });
    }

    [Test]
    public async Task Rotate_secret_sends_the_overlap_in_seconds_and_says_until_when_the_previous_secret_is_accepted()
    {
        await Run(Secret, "keys", "set-secret", "refund-agent");

        var result = await Run("sk_test_51RotatedSecret9876543210\n", "keys", "rotate-secret", "refund-agent", "--overlap", "15m");

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        var request = Admin.Requests.OfType<SetKeySecretRequest>().Last();
        Assert.Multiple(() =>
        {
            Assert.That(request.Secret, Is.EqualTo("sk_test_51RotatedSecret9876543210"));
            Assert.That(request.OverlapSeconds, Is.EqualTo(900));
            Assert.That(result.Out, Does.Contain("now v2; the previous one is accepted until 2025-06-01 13:15:00 UTC"));
            Assert.That(result.Out, Does.Contain("all 2 processes on the key event stream confirmed"));
            Assert.That(result.Out + result.Error, Does.Not.Contain("sk_test_51RotatedSecret"));
        });
    }

    [Test]
    public async Task Keys_show_names_the_secret_version_and_json_never_holds_the_secret()
    {
        await Run(Secret, "keys", "set-secret", "refund-agent");

        var table = await Run(null, "keys", "show", "refund-agent");
        var json = await Run(null, "keys", "show", "refund-agent", "--json");

        Assert.Multiple(() =>
        {
            Assert.That(table.Out, Does.Match(@"Vendor secret\s+v1, held by the service since 2025-06-01 12:00:00 UTC"));
            Assert.That(json.Json().GetProperty("secretVersion").GetString(), Is.EqualTo("1"));
            Assert.That(table.Out + json.Out, Does.Not.Contain(Secret));
        });
    }

    [TestCase("", TestName = "Nothing on standard input")]
    [TestCase("\n  \n", TestName = "Only blank lines on standard input")]
    public async Task No_secret_on_standard_input_is_a_usage_error_and_nothing_is_sent(string input)
    {
        var result = await Run(input, "keys", "set-secret", "refund-agent");

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
            Assert.That(result.Error.Trim(), Is.EqualTo("error: no secret on standard input: pipe it in, such as: keybrake keys set-secret refund-agent < secret.txt"));
            Assert.That(Admin.Requests, Is.Empty);
        });
    }

    [Test]
    public async Task Two_lines_or_a_secret_with_spaces_are_refused_without_echoing_them()
    {
        var twoLines = await Run(Secret + "\nsecond-line\n", "keys", "set-secret", "refund-agent");
        var spaced = await Run("sk_test with a space\n", "keys", "rotate-secret", "refund-agent");

        Assert.Multiple(() =>
        {
            Assert.That(twoLines.ExitCode, Is.EqualTo(2));
            Assert.That(twoLines.Error.Trim(), Is.EqualTo("error: standard input holds more than one line: give the vendor secret alone"));
            Assert.That(spaced.ExitCode, Is.EqualTo(2));
            Assert.That(spaced.Error.Trim(), Is.EqualTo("error: the secret must be at most 4096 printable ASCII characters with no spaces"));
            Assert.That(twoLines.Error + spaced.Error, Does.Not.Contain("sk_test").And.Not.Contain("second-line"));
            Assert.That(Admin.Requests, Is.Empty);
        });
    }

    [Test]
    public async Task A_secret_given_as_an_argument_is_refused_without_being_quoted()
    {
        var result = await Run(null, "keys", "set-secret", "refund-agent", Secret);

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
            Assert.That(result.Error.Trim(), Does.StartWith("error: keybrake keys set-secret reads the secret from standard input, never from an argument"));
            Assert.That(result.Error.Trim().Split('\n'), Has.Length.EqualTo(1));
            Assert.That(result.Out + result.Error, Does.Not.Contain(Secret));
            Assert.That(Admin.Requests, Is.Empty);
        });
    }

    [Test]
    public async Task A_bad_overlap_is_a_usage_error_before_the_secret_is_read()
    {
        var result = await Run(Secret, "keys", "rotate-secret", "refund-agent", "--overlap", "8d");

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(2));
            Assert.That(result.Error.Trim(), Is.EqualTo("error: --overlap: '8d' is not a span of at most 7d: write 90s, 15m, 2h or 1d"));
            Assert.That(Admin.Requests, Is.Empty);
        });
    }
}
