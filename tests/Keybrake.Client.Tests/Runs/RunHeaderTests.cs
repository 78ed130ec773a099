using Microsoft.Extensions.DependencyInjection;

namespace Keybrake.Client.Tests;

public sealed class RunHeaderTests
{
    private const string AgentRunId = "x-agent-run-id";
    private const string LiteLlmSessionId = "x-litellm-session-id";

    [Test]
    public async Task A_named_client_with_AddKeybrakeRunHeaders_stamps_both_headers_inside_a_run()
    {
        var (services, backend) = NamedClient();
        await using var provider = services;
        using var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("llm");

        using (KeybrakeRun.Begin("run_42"))
        {
            using var response = await client.GetAsync("https://llm.example/v1/models");
        }

        var received = backend.Received.Single();
        Assert.Multiple(() =>
        {
            Assert.That(received.Header(AgentRunId), Is.EqualTo("run_42"));
            Assert.That(received.Header(LiteLlmSessionId), Is.EqualTo("run_42"));
        });
    }

    [Test]
    public async Task A_header_the_caller_set_is_not_overwritten()
    {
        var (services, backend) = NamedClient();
        await using var provider = services;
        using var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("llm");
        using var request = new HttpRequestMessage(HttpMethod.Get, "https://llm.example/v1/models");
        request.Headers.Add(AgentRunId, "run_chosen_by_caller");

        using (KeybrakeRun.Begin("run_42"))
        {
            using var response = await client.SendAsync(request);
        }

        var received = backend.Received.Single();
        Assert.Multiple(() =>
        {
            Assert.That(received.Header(AgentRunId), Is.EqualTo("run_chosen_by_caller"));
            Assert.That(received.Header(LiteLlmSessionId), Is.EqualTo("run_42"));
        });
    }

    [Test]
    public async Task Outside_a_run_no_header_is_stamped()
    {
        var (services, backend) = NamedClient();
        await using var provider = services;
        using var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("llm");

        using var response = await client.GetAsync("https://llm.example/v1/models");

        var received = backend.Received.Single();
        Assert.Multiple(() =>
        {
            Assert.That(received.Headers.Keys, Has.None.EqualTo(AgentRunId).IgnoreCase);
            Assert.That(received.Headers.Keys, Has.None.EqualTo(LiteLlmSessionId).IgnoreCase);
        });
    }

    [Test]
    public async Task CreateHeaderHandler_stamps_the_run_id_without_dependency_injection()
    {
        var backend = new FakeVendorHandler();
        using var client = new HttpClient(KeybrakeRun.CreateHeaderHandler(backend));

        using (KeybrakeRun.Begin("run_console"))
        {
            using var inside = await client.GetAsync("https://llm.example/inside");
        }

        using var outside = await client.GetAsync("https://llm.example/outside");

        var received = backend.Received;
        Assert.Multiple(() =>
        {
            Assert.That(received[0].Header(AgentRunId), Is.EqualTo("run_console"));
            Assert.That(received[0].Header(LiteLlmSessionId), Is.EqualTo("run_console"));
            Assert.That(received[1].Header(AgentRunId), Is.Null);
        });
    }

    private static (ServiceProvider Services, FakeVendorHandler Backend) NamedClient()
    {
        var backend = new FakeVendorHandler();
        var services = new ServiceCollection();
        services.AddHttpClient("llm")
            .ConfigurePrimaryHttpMessageHandler(() => backend)
            .AddKeybrakeRunHeaders();
        return (services.BuildServiceProvider(), backend);
    }
}
