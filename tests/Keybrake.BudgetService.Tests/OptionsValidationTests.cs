using Keybrake.Client.TestUtilities.BudgetService;

namespace Keybrake.BudgetService.Tests;

public sealed class OptionsValidationTests
{
    private static readonly TestCaseData[] s_badSettings =
    [
        new TestCaseData(BudgetServiceHost.Key("agent", "abc"), "BudgetService:Keys:agent:Policy:DailyCap").SetName("A daily cap that is not an amount"),
        new TestCaseData(BudgetServiceHost.Key("agent", "-5"), "BudgetService:Keys:agent:Policy:DailyCap").SetName("A negative daily cap"),
        new TestCaseData(BudgetServiceHost.Key("agent", "1000000000000.01"), "BudgetService:Keys:agent:Policy:DailyCap").SetName("A daily cap over the largest amount"),
        new TestCaseData(BudgetServiceHost.Key("agent", "100", runCap: "1.0000001"), "BudgetService:Keys:agent:Policy:RunCap").SetName("A run cap with seven decimals"),
        new TestCaseData(BudgetServiceHost.Key("agent", "100", timeZone: "Mars/Olympus_Mons"), "BudgetService:Keys:agent:Policy:TimeZone 'Mars/Olympus_Mons' is not an IANA time zone").SetName("An unknown time zone"),
        new TestCaseData(new Dictionary<string, string?> { ["BudgetService:Keys:agent:Vendor"] = "stripe" }, "BudgetService:Keys:agent:Policy:DailyCap is required").SetName("No daily cap"),
        new TestCaseData(
            TestService.Settings(BudgetServiceHost.Key("agent", "100"), new Dictionary<string, string?> { ["BudgetService:Keys:agent:Policy:RunCaps"] = "5" }),
            "'RunCaps'").SetName("A misspelt run cap, which would otherwise mean no run cap at all"),
        new TestCaseData(
            TestService.Settings(BudgetServiceHost.Key("agent", "100"), new Dictionary<string, string?> { ["BudgetService:AdminToken"] = "short-token" }),
            "BudgetService:AdminToken must be at least 16 characters").SetName("An admin token shorter than 16 characters"),
        new TestCaseData(
            TestService.Settings(BudgetServiceHost.Key("agent", "100"), new Dictionary<string, string?> { ["BudgetService:IdempotencyRetention"] = "00:00:10" }),
            "IdempotencyRetention").SetName("An idempotency retention under a minute"),
        new TestCaseData(
            TestService.Settings(BudgetServiceHost.Key("agent", "100"), new Dictionary<string, string?> { ["BudgetService:Clients:fleet:TokenSha256"] = "kbc_aPlaintextTokenWhereItsHashBelongs012345678", ["BudgetService:Clients:fleet:Keys:0"] = "agent" }),
            "BudgetService:Clients:fleet:TokenSha256 must be the SHA-256 of the token as 64 hexadecimal digits (never the token itself)").SetName("A client declared with its token instead of its hash"),
        new TestCaseData(
            TestService.Settings(BudgetServiceHost.Key("agent", "100"), new Dictionary<string, string?> { ["BudgetService:Clients:fleet:TokenSha256"] = new string('a', 64) }),
            "BudgetService:Clients:fleet:Keys: key_ids must name at least one key").SetName("A client declared without a scope"),
        new TestCaseData(
            TestService.Settings(BudgetServiceHost.Key("agent", "100"), new Dictionary<string, string?> { ["BudgetService:Leases:RecallWait"] = "00:00:00" }),
            "BudgetService:Leases:RecallWait is 00:00:00").SetName("A lease recall wait of nothing"),
        new TestCaseData(
            TestService.Settings(BudgetServiceHost.Key("agent", "100"), new Dictionary<string, string?> { ["BudgetService:Keys:agent:Policy:RunCapIncludes:0"] = "llm" }),
            "BudgetService:Keys:agent:Policy:RunCapIncludes needs a RunCap").SetName("A run cap that includes LLM spend without a run cap"),
        new TestCaseData(
            TestService.Settings(BudgetServiceHost.Key("agent", "100", runCap: "50"), new Dictionary<string, string?> { ["BudgetService:Keys:agent:Policy:RunCapIncludes:0"] = "tokens" }),
            "BudgetService:Keys:agent:Policy:RunCapIncludes 'tokens' is not something a run cap can include (it can include: llm)").SetName("A run cap that includes something unknown"),
    ];

    [TestCaseSource(nameof(s_badSettings))]
    public async Task A_bad_setting_fails_start_up_with_a_message_naming_it(Dictionary<string, string?> settings, string message)
    {
        var directory = Directory.CreateTempSubdirectory("keybrake-budget-bad-").FullName;
        try
        {
            var failure = Assert.CatchAsync(async () => await BudgetServiceHost.StartAsync(settings, directory));

            Assert.That(failure!.Message, Does.Contain(message));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Test]
    public async Task Every_bad_key_is_named_in_one_failure()
    {
        var settings = TestService.Settings(BudgetServiceHost.Key("a", "100", timeZone: "Nowhere/City"), BudgetServiceHost.Key("b", "100", timeZone: "Atlantis/Capital"));
        var directory = Directory.CreateTempSubdirectory("keybrake-budget-bad-").FullName;
        try
        {
            var failure = Assert.CatchAsync(async () => await BudgetServiceHost.StartAsync(settings, directory));

            Assert.That(failure!.Message, Does.Contain("BudgetService:Keys:a:Policy:TimeZone").And.Contain("BudgetService:Keys:b:Policy:TimeZone"));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
