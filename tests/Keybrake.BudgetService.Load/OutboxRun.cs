using System.Text.Json;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Processes;

namespace Keybrake.BudgetService.Load;

/// <summary>
/// How long a central-mode call can block on its audit record: N agent processes (Keybrake.Client.LoadAgent in
/// <c>--mode outbox-writes</c>) share one outbox setting, the default <c>data/keybrake-audit-outbox.db</c> under a
/// common working directory (each writes its own file beside it), write records as guarded calls do, and ship
/// them to a real budget service process. Run first with one process, then with N, so the cost of sharing shows.
/// </summary>
internal static class OutboxRun
{
    private const string KeyId = "outbox-agent";

    public static async Task<int> RunAsync(int processes, int records, int tasks)
    {
        Report.Title("Audit outbox writes shared by processes");
        Report.Machine($"outbox --processes {processes} --records {records} --tasks {tasks}");
        var folder = Directory.CreateTempSubdirectory("keybrake-outbox-load-").FullName;
        try
        {
            await using var service = await BudgetServiceProcess.StartAsync(BudgetServiceHost.Key(KeyId, "100"));
            var rows = new List<string[]>();
            foreach (var count in new[] { 1, processes })
            {
                var results = await RunRoundAsync(service.Address, Path.Combine(folder, $"round-{count}"), count, records, tasks);
                rows.Add([
                    $"{count}",
                    Report.Number(results.Sum(r => r.Records)),
                    Report.Us(results.Max(r => r.P50Us)),
                    Report.Us(results.Max(r => r.P99Us)),
                    Report.Us(results.Max(r => r.P999Us)),
                    Report.Us(results.Max(r => r.MaxUs)),
                ]);
            }

            Report.Table(["processes", "records", "p50 (worst process)", "p99", "p99.9", "max"], rows);
            Report.LoadAtEnd();
            return 0;
        }
        finally
        {
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (IOException)
            {
                // a file still held open: the temp folder is cleaned by the system
            }
        }
    }

    private static async Task<List<WriteResult>> RunRoundAsync(Uri service, string folder, int processes, int records, int tasks)
    {
        Directory.CreateDirectory(folder);
        var tokenFile = BudgetServiceHost.WriteClientTokenFile(folder);
        var agents = new List<DotnetProcess>();
        try
        {
            for (var i = 0; i < processes; i++)
            {
                agents.Add(DotnetProcess.Start(
                    "Keybrake.Client.LoadAgent.dll",
                    [
                        "--mode", "outbox-writes", "--service", service.ToString(), "--client-token-file", tokenFile, "--stripe", "http://127.0.0.1:1", "--key-id", KeyId,
                        "--brake-key", "vault_key_test_load_agent_0000000001", "--outbox", Path.Combine("data", "keybrake-audit-outbox.db"),
                        "--records", $"{records}", "--tasks", $"{tasks}",
                    ],
                    workingDirectory: folder));
            }

            foreach (var agent in agents)
            {
                var ready = await agent.ReadLineAsync(TimeSpan.FromSeconds(120));
                if (ready != "ready")
                {
                    throw new InvalidOperationException($"An agent did not get ready: '{ready}'.\n{agent.Diagnostics}");
                }
            }

            await Task.WhenAll(agents.Select(a => a.WriteLineAsync("go")));
            var results = new List<WriteResult>();
            foreach (var agent in agents)
            {
                var line = await agent.ReadLineAsync(TimeSpan.FromMinutes(10));
                results.Add(JsonSerializer.Deserialize<WriteResult>(line!, JsonSerializerOptions.Web)
                    ?? throw new InvalidOperationException($"No result.\n{agent.Diagnostics}"));
            }

            return results;
        }
        finally
        {
            await Task.WhenAll(agents.Select(a => a.DisposeAsync().AsTask()));
        }
    }

    private sealed record WriteResult(int Records, double P50Us, double P99Us, double P999Us, double MaxUs);
}
