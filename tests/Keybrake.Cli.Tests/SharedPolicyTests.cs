namespace Keybrake.Cli.Tests;

/// <summary>The tool reads and shows dollars with the shared <see cref="Usd"/>, and links no guard code.</summary>
public sealed class SharedPolicyTests
{
    [Test]
    public void The_tool_uses_the_policy_package_and_not_the_guard()
    {
        var references = typeof(KeybrakeCli).Assembly.GetReferencedAssemblies().Select(name => name.Name).ToArray();

        Assert.That(references, Does.Contain("Keybrake.Policies"));
        Assert.That(references, Does.Not.Contain("Keybrake.Client"));
    }
}
