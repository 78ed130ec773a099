using Grpc.Core;
using Grpc.Core.Interceptors;
using Keybrake.BudgetService.Hosting;
using Keybrake.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Keybrake.Client.TestUtilities.BudgetService;

/// <summary>
/// The real budget service on a real Kestrel port on loopback, in this process, with its SQLite file in a
/// temporary folder. Keys and caps come from the settings passed to StartAsync (configuration keys under
/// <c>BudgetService</c>), as an operator would write them in appsettings.json. The admin token is
/// <see cref="AdminToken"/> unless the settings give another; the REST paths listen on a port of their own.
/// </summary>
public sealed class BudgetServiceHost : IAsyncDisposable
{
    /// <summary>The admin token the service requires, unless the settings set <c>BudgetService:AdminToken</c>.</summary>
    public const string AdminToken = "test-admin-token-0123456789abcdef";

    /// <summary>
    /// A client credential the service accepts for every key (<c>*</c>), declared in its settings by the token's hash
    /// (as an operator would), for the tests' guards. Tests of scopes issue narrower ones through the admin API.
    /// </summary>
    public const string ClientToken = "kbc_testClientCredential0123456789abcdefABCDEF";

    /// <summary>The client id of <see cref="ClientToken"/>.</summary>
    public const string ClientId = "test-clients";

    /// <summary>The settings that declare <see cref="ClientToken"/> (by its SHA-256) for every key.</summary>
    public static IReadOnlyDictionary<string, string?> ClientSettings { get; } = new Dictionary<string, string?>
    {
        [$"BudgetService:Clients:{ClientId}:TokenSha256"] = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(ClientToken))),
        [$"BudgetService:Clients:{ClientId}:Keys:0"] = "*",
    };

    private readonly WebApplication _app;
    private readonly bool _ownsDirectory;

    private BudgetServiceHost(WebApplication app, string directory, bool ownsDirectory, Uri address, Uri restAddress)
    {
        _app = app;
        Directory = directory;
        _ownsDirectory = ownsDirectory;
        Address = address;
        RestAddress = restAddress;
    }

    /// <summary>Where the service listens for gRPC (HTTP/2), such as <c>http://127.0.0.1:41234</c> (<c>https://</c> with TLS).</summary>
    public Uri Address { get; }

    /// <summary>Where the admin API's REST paths listen (HTTP/1.1).</summary>
    public Uri RestAddress { get; }

    /// <summary>The folder holding the SQLite file; reuse it to restart the service on the same data.</summary>
    public string Directory { get; }

    public string StoragePath => Path.Combine(Directory, "budget.db");

    public IServiceProvider Services => _app.Services;

    /// <summary>
    /// Starts the service. <paramref name="port"/> 0 picks a free port; <paramref name="configure"/> adds to its services (a log
    /// capture, say). With <paramref name="postgres"/> (a connection string) it keeps its books in that PostgreSQL database
    /// instead of the SQLite file; the folder still holds what is not in the store.
    /// </summary>
    public static async Task<BudgetServiceHost> StartAsync(
        IDictionary<string, string?> settings,
        string? directory = null,
        int port = 0,
        TimeProvider? time = null,
        IEnumerable<string>? arguments = null,
        Action<WebApplicationBuilder>? configure = null,
        string? postgres = null)
    {
        var ownsDirectory = directory is null;
        directory ??= System.IO.Directory.CreateTempSubdirectory("keybrake-budget-").FullName;
        // Port and storage go on the command line: the app reads them while it is being built. So do --urls.
        string[] args = [$"--BudgetService:Port={port}", "--BudgetService:RestPort=0", $"--BudgetService:StoragePath={Path.Combine(directory, "budget.db")}", .. arguments ?? []];
        WebApplication app;
        try
        {
            app = BuildApp(args, settings, time, configure, postgres);
        }
        catch
        {
            if (ownsDirectory)
            {
                System.IO.Directory.Delete(directory, recursive: true);
            }

            throw;
        }

        try
        {
            await app.StartAsync();
        }
        catch
        {
            // A service that did not start holds nothing the caller could release.
            await app.DisposeAsync();
            if (ownsDirectory)
            {
                System.IO.Directory.Delete(directory, recursive: true);
            }

            throw;
        }

        // Kestrel lists the endpoints in the order the service opened them: gRPC, then REST (with TLS, one port may serve both).
        var addresses = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.ToList();
        return new BudgetServiceHost(app, directory, ownsDirectory, new Uri(addresses[0]), new Uri(addresses[^1]));
    }

    private static WebApplication BuildApp(string[] args, IDictionary<string, string?> settings, TimeProvider? time, Action<WebApplicationBuilder>? configure, string? postgres) =>
        BudgetServiceApp.Build(args, builder =>
        {
            var all = new Dictionary<string, string?>(settings)
            {
                ["Logging:LogLevel:Default"] = "Warning",
            };
            all.TryAdd("BudgetService:AdminToken", AdminToken);
            if (postgres is not null)
            {
                all.TryAdd("BudgetService:Store", "PostgreSQL");
                all.TryAdd("ConnectionStrings:Keybrake", postgres);
            }

            foreach (var (name, value) in ClientSettings)
            {
                all.TryAdd(name, value);
            }

            builder.Configuration.AddInMemoryCollection(all);
            if (time is not null)
            {
                builder.Services.AddSingleton(time);
            }

            configure?.Invoke(builder);
        });

    /// <summary>
    /// Settings for one key and its caps, in the service's configuration shape. The service's policy is every
    /// process's in central mode, so the loop breaker is off here: these tests repeat amounts on purpose, and a
    /// test of the breaker sets its own.
    /// </summary>
    public static Dictionary<string, string?> Key(string keyId, string dailyCap, string? runCap = null, string? timeZone = null, string vendor = "stripe")
    {
        var settings = new Dictionary<string, string?>
        {
            [$"BudgetService:Keys:{keyId}:Vendor"] = vendor,
            [$"BudgetService:Keys:{keyId}:Policy:DailyCap"] = dailyCap,
            [$"BudgetService:Keys:{keyId}:Policy:LoopBreaker:MaxRepeats"] = "0",

            // Call by call: the tests built on this key count Authorize calls, and a fast machine would otherwise turn
            // on automatic leasing part-way through a burst. Tests of leases set it to "true".
            [$"BudgetService:Keys:{keyId}:Policy:Lease:Enabled"] = "false",
        };
        if (runCap is not null)
        {
            settings[$"BudgetService:Keys:{keyId}:Policy:RunCap"] = runCap;
        }

        if (timeZone is not null)
        {
            settings[$"BudgetService:Keys:{keyId}:Policy:TimeZone"] = timeZone;
        }

        return settings;
    }

    /// <summary>
    /// A client of the admin API that presents <see cref="AdminToken"/> on every call, unless the call sets its
    /// own <c>authorization</c> header (a test of a wrong token keeps it).
    /// </summary>
    public static BudgetAdmin.BudgetAdminClient AdminClient(ChannelBase channel) =>
        new(channel.Intercept(headers =>
        {
            if (headers.Get("authorization") is null)
            {
                headers.Add("authorization", "Bearer " + AdminToken);
            }

            return headers;
        }));

    /// <summary>
    /// A client of the money path that presents <paramref name="token"/> (<see cref="ClientToken"/> by default) on
    /// every call, unless the call sets its own <c>authorization</c> header; <see langword="null"/> presents none.
    /// </summary>
    public static Protocol.Budget.BudgetClient BudgetClient(ChannelBase channel, string? token = ClientToken) =>
        new(channel.Intercept(headers =>
        {
            if (token is not null && headers.Get("authorization") is null)
            {
                headers.Add("authorization", "Bearer " + token);
            }

            return headers;
        }));

    /// <summary>
    /// Writes a client credential (<see cref="ClientToken"/> by default) into <paramref name="folder"/>, readable by
    /// this user only, for an agent process's <c>ClientTokenFile</c>: a file keeps it off the process's command line.
    /// </summary>
    public static string WriteClientTokenFile(string folder, string token = ClientToken)
    {
        var path = Path.Combine(folder, "client-token-" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(token)))[..8]);
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new FileStream(path, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.WriteLine(token);
        }

        return path;
    }

    /// <summary>Stops the service, keeping its data.</summary>
    public async Task StopAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        if (_ownsDirectory)
        {
            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (IOException)
            {
                // a file still held open: the temp folder is cleaned by the system
            }
        }
    }
}
