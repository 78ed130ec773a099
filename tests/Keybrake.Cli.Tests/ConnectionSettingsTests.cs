using Keybrake.Cli.Connection;

namespace Keybrake.Cli.Tests;

public sealed class ConnectionSettingsTests
{
    private string _directory = null!;

    [SetUp]
    public void CreateDirectory() => _directory = Directory.CreateTempSubdirectory("keybrake-cli-").FullName;

    [TearDown]
    public void DeleteDirectory() => Directory.Delete(_directory, recursive: true);

    [Test]
    public void Options_come_before_the_environment_which_comes_before_the_defaults()
    {
        var environment = new Dictionary<string, string?> { ["KEYBRAKE_SERVER"] = "http://10.0.0.1:7411", ["KEYBRAKE_ADMIN_TOKEN"] = "from-environment" };
        WriteTokenFile("from-file");

        var fromOptions = ConnectionSettings.Resolve("https://budget.internal:443", "from-option", environment.GetValueOrDefault, _directory);
        var fromEnvironment = ConnectionSettings.Resolve(null, null, environment.GetValueOrDefault, _directory);
        var fromFile = ConnectionSettings.Resolve(null, null, _ => null, _directory);

        Assert.Multiple(() =>
        {
            Assert.That(fromOptions, Is.EqualTo(new ConnectionSettings(new Uri("https://budget.internal:443"), "from-option", "--token")));
            Assert.That(fromEnvironment, Is.EqualTo(new ConnectionSettings(new Uri("http://10.0.0.1:7411"), "from-environment", "KEYBRAKE_ADMIN_TOKEN")));
            Assert.That(fromFile.Server, Is.EqualTo(new Uri("http://127.0.0.1:7411")));
            Assert.That(fromFile.Token, Is.EqualTo("from-file"), "the file's trailing newline is not part of the token");
        });
    }

    [Test]
    public void Without_an_option_a_variable_or_the_file_no_token_is_sent()
    {
        var settings = ConnectionSettings.Resolve(null, null, _ => "  ", _directory);
        Assert.That(settings.Token, Is.Null);
    }

    [TestCase("127.0.0.1:7411")]
    [TestCase("ftp://host")]
    [TestCase("not a url")]
    public void A_server_that_is_not_an_http_address_is_a_usage_error(string server)
    {
        var failure = Assert.Throws<UsageException>(() => ConnectionSettings.Resolve(server, null, _ => null, _directory));
        Assert.That(failure!.Message, Does.Contain("is not a server address"));
    }

    private void WriteTokenFile(string token)
    {
        Directory.CreateDirectory(Path.Combine(_directory, "data"));
        File.WriteAllText(Path.Combine(_directory, "data", "admin-token"), token + "\n");
    }
}
