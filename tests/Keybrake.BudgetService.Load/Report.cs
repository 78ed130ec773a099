using System.Diagnostics;
using System.Globalization;
using System.Runtime;
using System.Runtime.InteropServices;

namespace Keybrake.BudgetService.Load;

/// <summary>Latencies of one kind of call, as <see cref="Stopwatch"/> ticks, and their percentiles.</summary>
internal sealed class Latencies
{
    private readonly long[] _sorted;

    public Latencies(IEnumerable<long> ticks)
    {
        _sorted = [.. ticks];
        Array.Sort(_sorted);
    }

    public int Count => _sorted.Length;

    /// <summary>The nearest-rank percentile, in microseconds.</summary>
    public double Percentile(double p) =>
        _sorted.Length == 0 ? double.NaN : Report.Microseconds(_sorted[Math.Clamp((int)Math.Ceiling(p / 100 * _sorted.Length) - 1, 0, _sorted.Length - 1)]);

    public double Max => _sorted.Length == 0 ? double.NaN : Report.Microseconds(_sorted[^1]);

    public double Mean => _sorted.Length == 0 ? double.NaN : Report.Microseconds((long)_sorted.Average());
}

/// <summary>What the harness prints: the machine, Markdown tables and the verdicts, in one culture.</summary>
internal static class Report
{
    private static readonly CultureInfo s_culture = CultureInfo.InvariantCulture;

    public static double Microseconds(long ticks) => ticks * 1_000_000.0 / Stopwatch.Frequency;

    public static double Seconds(long ticks) => ticks / (double)Stopwatch.Frequency;

    public static string Us(double microseconds) => microseconds >= 1000
        ? string.Create(s_culture, $"{microseconds / 1000:0.00} ms")
        : string.Create(s_culture, $"{microseconds:0} µs");

    public static string Number(double value, string format = "N0") => value.ToString(format, s_culture);

    /// <summary>The CPU time this process has used, on every thread: on a busy machine it varies less than the wall clock.</summary>
    public static TimeSpan ProcessorTime()
    {
        using var process = Process.GetCurrentProcess();
        return process.TotalProcessorTime;
    }

    public static void Line(string text = "") => Console.WriteLine(text);

    public static void Title(string title)
    {
        Line($"# {title}");
        Line();
    }

    /// <summary>The machine and the moment: the result only means something next to them (the load average says how busy the machine was).</summary>
    public static void Machine(string command)
    {
        Line($"Command:   dotnet run -c Release --project tests/Keybrake.BudgetService.Load -- {command}");
        Line($"Machine:   {CpuModel()}, {Environment.ProcessorCount} logical cores; {RuntimeInformation.OSDescription}");
        Line($"Runtime:   {RuntimeInformation.FrameworkDescription}, {(GCSettings.IsServerGC ? "server" : "workstation")} GC");
        Line($"Load avg:  {LoadAverage()} (1, 5, 15 min) at start");
        Line();
    }

    public static void LoadAtEnd()
    {
        Line($"Load avg:  {LoadAverage()} (1, 5, 15 min) at end");
        Line();
    }

    public static void Table(string[] header, IEnumerable<string[]> rows)
    {
        Line("| " + string.Join(" | ", header) + " |");
        Line("|" + string.Join("|", header.Select((_, i) => i == 0 ? "---" : "---:")) + "|");
        foreach (var row in rows)
        {
            Line("| " + string.Join(" | ", row) + " |");
        }

        Line();
    }

    public static void Verdict(string goal, string measured, bool met) =>
        Line($"- {goal}: {measured} -> **{(met ? "MET" : "MISSED")}**");

    private static string CpuModel()
    {
        try
        {
            var model = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return model is null ? RuntimeInformation.ProcessArchitecture.ToString() : model[(model.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
        }
        catch (IOException)
        {
            return RuntimeInformation.ProcessArchitecture.ToString();
        }
        catch (UnauthorizedAccessException)
        {
            return RuntimeInformation.ProcessArchitecture.ToString();
        }
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join(", ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "n/a";
        }
        catch (UnauthorizedAccessException)
        {
            return "n/a";
        }
    }
}

/// <summary>
/// How much the JIT is still compiling. Tiered compilation recompiles hot methods in the background for some
/// seconds after start (longer on a busy machine); a measurement taken while it does measures the compiler too.
/// </summary>
internal static class Jit
{
    /// <summary>A step is quiet when the JIT spent less than this share of its wall time compiling.</summary>
    private const double QuietShare = 0.01;

    public static TimeSpan CompilationTime => System.Runtime.JitInfo.GetCompilationTime(currentThread: false);

    public static long CompiledMethods => System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: false);

    /// <summary>Quiet steps in a row it takes to call the JIT settled: tier-up comes in bursts, with quiet moments between.</summary>
    private const int QuietStepsInARow = 3;

    /// <summary>
    /// Runs <paramref name="step"/> (about a second of calls, or of waiting while callers run) at least for
    /// <paramref name="minimum"/>, then until three steps in a row have each spent less than 1% of their time
    /// compiling, or <paramref name="maximum"/> has passed. Returns how long the warm-up took and whether the JIT settled.
    /// </summary>
    public static async Task<(TimeSpan Took, bool Settled)> WarmUpAsync(Func<Task> step, TimeSpan minimum, TimeSpan maximum)
    {
        var started = Stopwatch.GetTimestamp();
        var quietInARow = 0;
        while (true)
        {
            var jitBefore = CompilationTime;
            var stepStarted = Stopwatch.GetTimestamp();
            await step();
            var elapsed = Stopwatch.GetElapsedTime(stepStarted);
            var compiling = CompilationTime - jitBefore;
            quietInARow = compiling.TotalSeconds <= elapsed.TotalSeconds * QuietShare ? quietInARow + 1 : 0;
            var took = Stopwatch.GetElapsedTime(started);
            if (took >= minimum && quietInARow >= QuietStepsInARow)
            {
                return (took, true);
            }

            if (took >= maximum)
            {
                return (took, false);
            }
        }
    }

    /// <summary>A line saying what the JIT did during the measurement: it should be next to nothing.</summary>
    public static string Describe(TimeSpan warmup, bool settled, TimeSpan compiling, long methods) =>
        string.Create(CultureInfo.InvariantCulture,
            $"Warm-up {warmup.TotalSeconds:0.0} s ({(settled ? "until the JIT settled" : "the JIT had NOT settled: results include compilation")}); during the measurement the JIT compiled {methods} methods in {compiling.TotalMilliseconds:0} ms.");
}
