using System.Net;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.ConsoleTests;

/// <summary>The key page says in words how the key leases its budget and what its run cap counts, as the service holds the policy.</summary>
public sealed class PolicyInWordsTests
{
    private ConsoleService _service = null!;

    [SetUp]
    public async Task StartAsync() => _service = await ConsoleService.StartAsync();

    [TearDown]
    public async Task StopAsync() => await _service.DisposeAsync();

    [Test]
    public async Task The_key_page_says_how_the_key_leases_and_whether_its_run_cap_includes_llm_spend()
    {
        using var http = new ConsoleHttp(_service.Service.RestAddress);
        (await http.SignInAsync()).Dispose();

        // No lease policy at all: automatic, with the defaults (the test key starts with leasing off).
        var policy = (await _service.Admin.GetKeyAsync(new GetKeyRequest { KeyId = ConsoleService.KeyId })).Policy;
        policy.Lease = null;
        await _service.Admin.UpdateKeyPolicyAsync(new UpdateKeyPolicyRequest { KeyId = ConsoleService.KeyId, Policy = policy });
        var before = await PolicyTextAsync(http);

        policy.Lease = new LeasePolicy { Enabled = true, MaxSliceMicroUsd = 2_500_000, TtlMilliseconds = 45_000 };
        policy.RunCapIncludes.Add("llm");
        await _service.Admin.UpdateKeyPolicyAsync(new UpdateKeyPolicyRequest { KeyId = ConsoleService.KeyId, Policy = policy });
        var leasing = await PolicyTextAsync(http);

        policy.Lease = new LeasePolicy { Enabled = false };
        await _service.Admin.UpdateKeyPolicyAsync(new UpdateKeyPolicyRequest { KeyId = ConsoleService.KeyId, Policy = policy });
        var off = await PolicyTextAsync(http);

        Assert.Multiple(() =>
        {
            Assert.That(before, Does.Contain("Budget leases automatic: a process leases once its calls on the key come fast enough, slices of at most $2.00 (2% of the daily cap), each lasting 30 s"));
            Assert.That(before, Does.Contain("The per-run cap counts this key's calls only"));
            Assert.That(leasing, Does.Contain("Budget leases on: each process decides calls on a slice of the budget the service leased to it, slices of at most $2.50, each lasting 45 s"));
            Assert.That(leasing, Does.Contain("The per-run cap counts this key's calls and the run's LLM spend"));
            Assert.That(off, Does.Contain("Budget leases off: every call that costs money asks the service"));
        });
    }

    /// <summary>The policy list of the key page as text: each term and its description, on one line.</summary>
    private static async Task<string> PolicyTextAsync(ConsoleHttp http)
    {
        using var response = await http.Client.GetAsync($"/console/keys/{ConsoleService.KeyId}");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var page = await response.Content.ReadAsStringAsync();
        var start = page.IndexOf("<dl class=\"policy\"", StringComparison.Ordinal);
        Assert.That(start, Is.GreaterThanOrEqualTo(0), "the key page has the policy");
        var list = page[start..page.IndexOf("</dl>", start, StringComparison.Ordinal)];
        var text = System.Text.RegularExpressions.Regex.Replace(list, "<[^>]+>", " ");
        return System.Text.RegularExpressions.Regex.Replace(WebUtility.HtmlDecode(text), @"\s+", " ");
    }
}
