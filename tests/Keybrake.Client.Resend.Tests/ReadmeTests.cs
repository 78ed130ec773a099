using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Keybrake.Client.Resend.Tests;

/// <summary>The README's Resend section as a reader copies it: well-formed Markdown, and a key example that starts.</summary>
public sealed class ReadmeTests
{
    [Test]
    public void The_Resend_section_closes_every_code_block_before_the_Twilio_heading()
    {
        var section = Section(ReadReadme(), "## Resend", "## Twilio");

        var fences = section.Split('\n').Count(line => line.TrimStart().StartsWith("```", StringComparison.Ordinal));

        Assert.That(fences % 2, Is.Zero, "an unclosed block swallows the next heading");
    }

    [Test]
    public void The_Resend_key_example_binds_and_passes_validation()
    {
        var section = Section(ReadReadme(), "## Resend", "## Twilio");
        var start = section.IndexOf("```json\n\"newsletter\"", StringComparison.Ordinal);
        Assert.That(start, Is.GreaterThanOrEqualTo(0), "the newsletter example is in the section");
        var body = section[(start + "```json\n".Length)..];
        var json = "{ \"Keybrake\": { \"Keys\": { " + body[..body.IndexOf("```", StringComparison.Ordinal)] + " } } }";
        var configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration);
        services.AddKeybrake().AddResendSdkGuard();
        using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<KeybrakeOptions>>().Value;

        Assert.That(options.Keys["newsletter"].Policy.Limits["maxRecipientsPerEmail"], Is.EqualTo(3));
    }

    private static string ReadReadme()
    {
        for (var directory = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); directory is not null; directory = directory.Parent)
        {
            var readme = Path.Combine(directory.FullName, "README.md");
            if (File.Exists(readme) && File.Exists(Path.Combine(directory.FullName, "Keybrake.Client.sln")))
            {
                return File.ReadAllText(readme).Replace("\r\n", "\n", StringComparison.Ordinal);
            }
        }

        throw new FileNotFoundException("README.md not found above the test directory");
    }

    private static string Section(string readme, string heading, string nextHeading)
    {
        var start = readme.IndexOf("\n" + heading, StringComparison.Ordinal);
        var end = readme.IndexOf("\n" + nextHeading + "\n", start, StringComparison.Ordinal);
        Assert.That(start >= 0 && end > start, Is.True, $"README has '{heading}' then '{nextHeading}'");
        return readme[start..end];
    }
}
