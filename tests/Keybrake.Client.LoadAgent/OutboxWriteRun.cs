using System.Diagnostics;
using System.Globalization;
using Keybrake.Client.Central;
using Microsoft.Extensions.DependencyInjection;

namespace Keybrake.Client.LoadAgent;

/// <summary>
/// <c>--mode outbox-writes</c>: how long a central-mode call can block on its audit record. Writes
/// <c>--records</c> records, <c>--tasks</c> writers at a time, through the process's <see cref="AuditOutbox"/>
/// (the write a guarded call makes before it returns) to the outbox file, which other processes may share,
/// while the outbox ships to the service in the background as it does in production. Prints one JSON line:
/// the count and the write latencies in microseconds (p50, p99, p99.9, max).
/// </summary>
internal static class OutboxWriteRun
{
    public static async Task<int> RunAsync(ServiceProvider provider, AgentArguments arguments)
    {
        var outbox = provider.GetRequiredService<AuditOutbox>();
        var perTask = arguments.Records / arguments.Tasks;
        var latencies = new long[perTask * arguments.Tasks];
        Console.WriteLine("ready");
        if (await Console.In.ReadLineAsync() is null)
        {
            return 3;
        }

        var writers = Enumerable.Range(0, arguments.Tasks).Select(task => Task.Run(async () =>
        {
            for (var i = 0; i < perTask; i++)
            {
                var record = new AuditRecord
                {
                    RecordId = $"rec_{Environment.ProcessId}_{task}_{i}",
                    Timestamp = DateTimeOffset.UtcNow,
                    KeyId = arguments.KeyId,
                    Vendor = "stripe",
                    Method = "GET",
                    Endpoint = "/v1/customers/{id}",
                    Decision = "allow",
                };
                var started = Stopwatch.GetTimestamp();
                await outbox.WriteAsync(record, CancellationToken.None);
                latencies[(task * perTask) + i] = Stopwatch.GetTimestamp() - started;
            }
        }));
        await Task.WhenAll(writers);
        Array.Sort(latencies);
        double Us(double quantile) => latencies[Math.Min(latencies.Length - 1, (int)(quantile * latencies.Length))] * 1_000_000.0 / Stopwatch.Frequency;
        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"{{\"records\":{latencies.Length},\"p50Us\":{Us(0.5):0},\"p99Us\":{Us(0.99):0},\"p999Us\":{Us(0.999):0},\"maxUs\":{Us(1):0}}}"));
        return 0;
    }
}
