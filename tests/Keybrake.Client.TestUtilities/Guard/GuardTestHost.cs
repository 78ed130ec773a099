using Keybrake.Client.TestUtilities.Audit;
using Keybrake.Client.TestUtilities.Logging;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Keybrake.Client.TestUtilities.Guard;

/// <summary>
/// The guard as an app registers it, for a test: <c>AddKeybrake</c> with the test's keys and options, a
/// <see cref="RecordingAuditSink"/>, every log line captured (<see cref="Logs"/>), the test's clock, and what the vendor
/// needs (<c>AddStripe</c>, a typed client, a stand-in's primary handler: the <c>register</c> argument of
/// <see cref="Start"/>). The vendor hosts of the test projects are this host with their SDK's helpers; what they own (a
/// stand-in, a folder) is disposed with it.
/// </summary>
public sealed class GuardTestHost : IAsyncDisposable
{
    private readonly IReadOnlyList<object> _owned;

    private GuardTestHost(ServiceProvider services, CapturingLoggerProvider logs, RecordingAuditSink audit, IReadOnlyList<object> owned)
    {
        Services = services;
        Logs = logs;
        Audit = audit;
        _owned = owned;
    }

    public ServiceProvider Services { get; }

    /// <summary>Everything the guard logged, at every level.</summary>
    public CapturingLoggerProvider Logs { get; }

    /// <summary>Every audit record the guard wrote, as the process saw them.</summary>
    public RecordingAuditSink Audit { get; }

    public IKeybrakeAdmin Admin => Services.GetRequiredService<IKeybrakeAdmin>();

    /// <summary>A client of the container's <see cref="IHttpClientFactory"/> by name.</summary>
    public HttpClient CreateClient(string name) => Services.GetRequiredService<IHttpClientFactory>().CreateClient(name);

    /// <param name="keys">The keys, in order.</param>
    /// <param name="options">The test's changes to the options, after the keys are added.</param>
    /// <param name="register">The vendor's registrations, after the audit sink.</param>
    /// <param name="time">The guard's clock; the system's unless given.</param>
    /// <param name="owned">What the host disposes after its services (<see cref="IAsyncDisposable"/>, <see cref="IDisposable"/>, or a folder path to delete).</param>
    public static GuardTestHost Start(
        IEnumerable<GuardTestKey> keys,
        Action<KeybrakeOptions>? options = null,
        Action<IKeybrakeBuilder>? register = null,
        TimeProvider? time = null,
        params object[] owned)
    {
        var logs = new CapturingLoggerProvider();
        var audit = new RecordingAuditSink();
        var services = new ServiceCollection();
        services.AddLogging(logging => logging.SetMinimumLevel(LogLevel.Trace).AddProvider(logs));
        if (time is not null)
        {
            services.AddSingleton(time);
        }

        var keyList = keys.ToList();
        var builder = services.AddKeybrake(o =>
            {
                foreach (var key in keyList)
                {
                    o.AddKey(key.KeyId, key.Apply);
                }

                options?.Invoke(o);
            })
            .AddAuditSink(audit);
        register?.Invoke(builder);
        return new GuardTestHost(services.BuildServiceProvider(), logs, audit, owned);
    }

    public async ValueTask DisposeAsync()
    {
        await Services.DisposeAsync();
        foreach (var owned in _owned)
        {
            switch (owned)
            {
                case IAsyncDisposable disposable:
                    await disposable.DisposeAsync();
                    break;
                case IDisposable disposable:
                    disposable.Dispose();
                    break;
                case string folder:
                    try
                    {
                        Directory.Delete(folder, recursive: true);
                    }
                    catch (IOException)
                    {
                        // a file still held open: the temp folder is cleaned by the system
                    }

                    break;
            }
        }
    }
}
