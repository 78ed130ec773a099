using System.Reflection;
using System.Text.Json;

namespace Keybrake.Client.Tests;

/// <summary>
/// An embedded-only user installs Keybrake.Client (and a vendor package) and gets no gRPC, Polly or native SQLite:
/// central mode and what it needs live in Keybrake.Client.Central. Nor any of OpenTelemetry: that is
/// Keybrake.Client.OpenTelemetry's, which needs OpenTelemetry's API and never its SDK.
/// </summary>
public sealed class EmbeddedDependencyTests
{
    private static readonly string[] s_centralOnly = ["Grpc.", "Google.Protobuf", "Google.Api", "Polly", "Microsoft.Data.Sqlite", "SQLitePCLRaw", "Keybrake.Protocol", "Keybrake.Client.Central"];

    [Test]
    public void The_core_assembly_and_the_keybrake_assemblies_it_references_load_nothing_central_mode_needs()
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Queue<Assembly>([typeof(KeybrakeOptions).Assembly]);
        while (pending.TryDequeue(out var assembly))
        {
            foreach (var reference in assembly.GetReferencedAssemblies())
            {
                if (seen.Add(reference.Name!) && reference.Name!.StartsWith("Keybrake.", StringComparison.Ordinal))
                {
                    pending.Enqueue(Assembly.Load(reference));
                }
            }
        }

        Assert.That(seen, Does.Contain("Keybrake.Policies"), "the walk reached the core's own references");
        Assert.That(seen.Where(IsCentralOnly), Is.Empty);
    }

    [Test]
    public void The_core_package_pulls_in_no_central_mode_package_even_transitively()
    {
        var packages = RestoredClosure("Keybrake.Client");

        Assert.That(packages, Does.Contain("Microsoft.Extensions.Http"), "the closure was read");
        Assert.That(packages.Where(IsCentralOnly), Is.Empty);
    }

    [Test]
    public void The_core_package_pulls_in_nothing_of_OpenTelemetry()
    {
        var packages = RestoredClosure("Keybrake.Client");

        Assert.That(packages, Does.Contain("Microsoft.Extensions.Http"), "the closure was read");
        Assert.That(packages.Where(name => name.StartsWith("OpenTelemetry", StringComparison.Ordinal)), Is.Empty);
    }

    [Test]
    public void The_OpenTelemetry_package_brings_the_OpenTelemetry_api_and_never_its_sdk()
    {
        var packages = RestoredClosure("Keybrake.Client.OpenTelemetry");

        // The application that exports brings the SDK (and its version); the instrumentation needs the API only.
        Assert.That(packages, Does.Contain("OpenTelemetry.Api.ProviderBuilderExtensions").And.Contain("Keybrake.Client"));
        Assert.That(packages, Does.Not.Contain("OpenTelemetry"));
        Assert.That(packages.Where(IsCentralOnly), Is.Empty);
    }

    [Test]
    public void The_central_package_brings_what_central_mode_needs()
    {
        var packages = RestoredClosure("Keybrake.Client.Central");

        Assert.That(packages, Does.Contain("Grpc.Net.ClientFactory").And.Contain("Polly.Core").And.Contain("Microsoft.Data.Sqlite").And.Contain("Keybrake.Client"));
    }

    [Test]
    public void The_central_package_uses_the_core_through_its_public_surface_only()
    {
        string[] shipped = ["Keybrake.Client", "Keybrake.Client.Central", "Keybrake.Client.Stripe", "Keybrake.Client.Twilio", "Keybrake.Client.Resend", "Keybrake.Client.OpenTelemetry", "Keybrake.Policies", "Keybrake.Protocol"];
        var central = typeof(Central.KeybrakeBudgetServiceOptions).Assembly;

        foreach (var assembly in new[] { typeof(KeybrakeOptions).Assembly, central })
        {
            var friends = assembly.GetCustomAttributes<System.Runtime.CompilerServices.InternalsVisibleToAttribute>().Select(a => a.AssemblyName);
            Assert.That(friends.Intersect(shipped), Is.Empty, $"{assembly.GetName().Name} shows its internals to a shipped package");
        }

        Assert.That(central.GetReferencedAssemblies().Select(name => name.Name), Does.Contain("Keybrake.Client"));
    }

    private static bool IsCentralOnly(string name) => s_centralOnly.Any(prefix => name.StartsWith(prefix, StringComparison.Ordinal));

    /// <summary>Every package and project the project's restore resolved for net10.0: what its package depends on, transitively.</summary>
    private static List<string> RestoredClosure(string project)
    {
        var artifacts = typeof(EmbeddedDependencyTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "Keybrake.Tests.ArtifactsPath").Value!;
        using var assets = JsonDocument.Parse(File.ReadAllText(Path.Combine(artifacts, "obj", project, "project.assets.json")));
        var target = assets.RootElement.GetProperty("targets").EnumerateObject().Single(t => t.Name.StartsWith("net10.0", StringComparison.Ordinal));
        return [.. target.Value.EnumerateObject().Select(entry => entry.Name.Split('/')[0])];
    }
}
