using System.Reflection;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using Perfolizer.Horology;
using Perfolizer.Metrology;

namespace Keybrake.Client.Benchmarks;

/// <summary>
/// One job for every benchmark, sized for a small (2-core) machine: the whole suite runs in a few minutes and
/// each guarded call is measured in the same run as its unguarded baseline. Sizes are shown in bytes, so the
/// extra allocation per call can be read off the table exactly.
/// </summary>
public sealed class BenchmarkConfig : ManualConfig
{
    public BenchmarkConfig()
    {
        AddJob(Job.Default
            .WithLaunchCount(1)
            .WithWarmupCount(5)
            .WithIterationCount(15)
            .AsDefault());
        SummaryStyle = SummaryStyle.Default.WithSizeUnit(SizeUnit.B).WithTimeUnit(TimeUnit.Microsecond);
        AddColumn(StatisticColumn.Median);

        // Reports go under the artifacts folder this project was built into (artifacts/benchmarks by default),
        // not into the current directory.
        var artifactsPath = typeof(BenchmarkConfig).Assembly
            .GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "Keybrake.Benchmarks.ArtifactsPath")?.Value;
        if (!string.IsNullOrEmpty(artifactsPath))
        {
            ArtifactsPath = Path.Combine(artifactsPath, "benchmarks");
        }
    }
}
