using System.Text.RegularExpressions;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using Npgsql;

namespace Keybrake.BudgetService.Tests;

/// <summary>
/// docs/litellm-sql.md's join of LiteLLM's spend logs with Keybrake's audit, run as the page writes it (read from the
/// page, so the page and the test cannot drift) on a real PostgreSQL: a budget service's tables, filled through its
/// own API, beside <c>LiteLLM_SpendLogs</c> as LiteLLM's schema creates it.
/// </summary>
public sealed partial class LiteLLMJoinTests
{
    // LiteLLM_SpendLogs as Prisma creates it on PostgreSQL from LiteLLM's published schema (BerriAI/litellm,
    // litellm-proxy-extras/litellm_proxy_extras/schema.prisma at 565caa598fea3b766cd34c4bba1073a309912583, MIT):
    // every column of the model, in order, with Prisma's types (String text, Float double precision, Int integer,
    // DateTime timestamp(3), Json jsonb), defaults, primary key and indexes.
    private const string LiteLlmSpendLogs = """
        CREATE TABLE "LiteLLM_SpendLogs" (
            "request_id" TEXT NOT NULL,
            "call_type" TEXT NOT NULL,
            "api_key" TEXT NOT NULL DEFAULT '',
            "spend" DOUBLE PRECISION NOT NULL DEFAULT 0.0,
            "total_tokens" INTEGER NOT NULL DEFAULT 0,
            "prompt_tokens" INTEGER NOT NULL DEFAULT 0,
            "completion_tokens" INTEGER NOT NULL DEFAULT 0,
            "startTime" TIMESTAMP(3) NOT NULL,
            "endTime" TIMESTAMP(3) NOT NULL,
            "completionStartTime" TIMESTAMP(3),
            "model" TEXT NOT NULL DEFAULT '',
            "model_id" TEXT DEFAULT '',
            "model_group" TEXT DEFAULT '',
            "custom_llm_provider" TEXT DEFAULT '',
            "api_base" TEXT DEFAULT '',
            "user" TEXT DEFAULT '',
            "metadata" JSONB DEFAULT '{}',
            "cache_hit" TEXT DEFAULT '',
            "cache_key" TEXT DEFAULT '',
            "request_tags" JSONB DEFAULT '[]',
            "team_id" TEXT,
            "end_user" TEXT,
            "requester_ip_address" TEXT,
            "messages" JSONB DEFAULT '{}',
            "response" JSONB DEFAULT '{}',
            "session_id" TEXT,
            "status" TEXT,
            "mcp_namespaced_tool_name" TEXT,
            "proxy_server_request" JSONB DEFAULT '{}',
            CONSTRAINT "LiteLLM_SpendLogs_pkey" PRIMARY KEY ("request_id")
        );
        CREATE INDEX "LiteLLM_SpendLogs_startTime_idx" ON "LiteLLM_SpendLogs"("startTime");
        CREATE INDEX "LiteLLM_SpendLogs_end_user_idx" ON "LiteLLM_SpendLogs"("end_user");
        CREATE INDEX "LiteLLM_SpendLogs_session_id_idx" ON "LiteLLM_SpendLogs"("session_id");
        """;

    [Test]
    public async Task The_documented_join_gives_each_runs_LLM_and_SaaS_spend_side_by_side_from_both_tables()
    {
        await using var service = await TestService.StartAsync(StoreEngine.PostgreSql, BudgetServiceHost.Key("agent", "1000"));

        // Keybrake's side, through the service's own audit intake: r1 has two settled calls and a denial, r2 one
        // settled call, and a line of vendor "llm" (the service's own LLM intake) that the join must not count twice.
        await AuditIntakeTests.SubmitAsync(service,
            Saas("a-1", "r1", "allow", 12_500_000),
            Saas("a-2", "r1", "allow", 2_500_000),
            Saas("a-3", "r1", "deny", null),
            Saas("a-4", "r2", "allow", 4_000_000),
            Saas("a-5", "r1", "allow", 9_990_000, vendor: "llm"),
            Saas("a-6", "", "allow", 1_000_000));

        // LiteLLM's side: r1 by session id, r3 by the older spend_logs_metadata, one call under no run.
        await using (var connection = new NpgsqlConnection(service.Postgres))
        {
            await connection.OpenAsync();
            await using (var create = new NpgsqlCommand(LiteLlmSpendLogs, connection))
            {
                await create.ExecuteNonQueryAsync();
            }

            await InsertAsync(connection, "chatcmpl-1", 0.75, 1_000, "r1", "{}");
            await InsertAsync(connection, "chatcmpl-2", 1.25, 3_000, "r1", "{}");
            await InsertAsync(connection, "chatcmpl-3", 0.333333, 500, null, """{"spend_logs_metadata": {"agent_run_id": "r3"}}""");
            await InsertAsync(connection, "chatcmpl-4", 5.0, 9_000, null, "{}");
        }

        var rows = await RunDocumentedJoinAsync(service.Postgres!);

        Assert.That(rows, Is.EqualTo(new[]
        {
            // run, LLM calls, tokens, LLM micro-USD, SaaS calls, denials, SaaS micro-USD, total
            new JoinedRun("r1", 2, 4_000, 2_000_000, 2, 1, 15_000_000, 17_000_000),
            new JoinedRun("r2", 0, 0, 0, 1, 0, 4_000_000, 4_000_000),
            new JoinedRun("r3", 1, 500, 333_333, 0, 0, 0, 333_333),
        }));
    }

    private static AuditRecord Saas(string id, string runId, string decision, long? settled, string vendor = "stripe")
    {
        var record = AuditIntakeTests.Record(id);
        record.RunId = runId;
        record.Vendor = vendor;
        record.Decision = decision;
        if (decision == "deny")
        {
            record.Reason = "run_cap_exceeded";
        }

        if (settled is { } amount)
        {
            record.SettledMicroUsd = amount;
        }

        return record;
    }

    private static async Task InsertAsync(NpgsqlConnection connection, string requestId, double spend, int tokens, string? sessionId, string metadata)
    {
        await using var insert = new NpgsqlCommand(
            """
            INSERT INTO "LiteLLM_SpendLogs" ("request_id", "call_type", "spend", "total_tokens", "startTime", "endTime", "model", "custom_llm_provider", "metadata", "session_id", "status")
            VALUES ($1, 'acompletion', $2, $3, now(), now(), 'gpt-4o', 'openai', $4::jsonb, $5, 'success')
            """, connection)
        {
            Parameters = { new() { Value = requestId }, new() { Value = spend }, new() { Value = tokens }, new() { Value = metadata }, new() { Value = (object?)sessionId ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text } },
        };
        await insert.ExecuteNonQueryAsync();
    }

    /// <summary>The SQL block that follows the page's <c>keybrake-litellm-join</c> marker, run as it is.</summary>
    private static async Task<List<JoinedRun>> RunDocumentedJoinAsync(string connectionString)
    {
        var page = await File.ReadAllTextAsync(Path.Combine(RepositoryRoot(), "docs", "litellm-sql.md"));
        var match = DocumentedJoin().Match(page);
        Assert.That(match.Success, Is.True, "docs/litellm-sql.md has the SQL block after <!-- keybrake-litellm-join -->");
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var query = new NpgsqlCommand(match.Groups["sql"].Value, connection);
        await using var reader = await query.ExecuteReaderAsync();
        var rows = new List<JoinedRun>();
        while (await reader.ReadAsync())
        {
            rows.Add(new JoinedRun(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4), reader.GetInt64(5), reader.GetInt64(6), reader.GetInt64(7)));
        }

        return rows;
    }

    private static string RepositoryRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "Keybrake.Client.sln")))
            {
                return folder.FullName;
            }
        }

        throw new InvalidOperationException("The repository (Keybrake.Client.sln) is not above the test's output folder.");
    }

    [GeneratedRegex(@"<!-- keybrake-litellm-join -->\s*```sql\n(?<sql>.*?)```", RegexOptions.Singleline)]
    private static partial Regex DocumentedJoin();

    private sealed record JoinedRun(string RunId, long LlmCalls, long LlmTokens, long LlmMicroUsd, long SaasCalls, long SaasDenials, long SaasMicroUsd, long TotalMicroUsd);
}
