using System.Reflection;

namespace Keybrake.BudgetService.Tests;

/// <summary>
/// The budget service and the command-line tool share the policy model with the guard through Keybrake.Policies's
/// public surface; neither links the HTTP guard (Keybrake.Client) to reuse its code.
/// </summary>
public sealed class SharedPolicyTests
{
    [Test]
    public void The_service_uses_the_policy_package_and_not_the_guard()
    {
        var references = References(typeof(Hosting.BudgetServiceApp).Assembly);

        Assert.That(references, Does.Contain("Keybrake.Policies"));
        Assert.That(references, Does.Not.Contain("Keybrake.Client"));
    }

    [Test]
    public void The_policy_package_depends_on_no_other_keybrake_package()
    {
        var references = References(typeof(KeyPolicy).Assembly);

        Assert.That(references.Where(name => name.StartsWith("Keybrake.", StringComparison.Ordinal)), Is.Empty);
        Assert.That(references.Where(name => name.StartsWith("Grpc.", StringComparison.Ordinal) || name.StartsWith("Google.", StringComparison.Ordinal)), Is.Empty);
    }

    [Test]
    public void The_service_and_the_guard_check_run_ids_alike()
    {
        Assert.That(() => RunIds.Validate(new string('r', RunIds.MaxLength)), Throws.Nothing);
        Assert.That(() => RunIds.Validate(new string('r', RunIds.MaxLength + 1)), Throws.ArgumentException.With.Message.Contains("1 to 200 characters"));
        Assert.That(() => RunIds.Validate("run 1"), Throws.ArgumentException.With.Message.Contains("visible ASCII"));
    }

    internal static string[] References(Assembly assembly) => [.. assembly.GetReferencedAssemblies().Select(name => name.Name!)];
}
