namespace Keybrake.Cli.Connection;

/// <summary>Where the service is and which admin token to present, from options, the environment or the token file.</summary>
internal sealed record ConnectionSettings(Uri Server, string? Token, string TokenSource, string? CaFile = null)
{
    public const string CaFileVariable = "KEYBRAKE_CA_FILE";

    public const string DefaultServer = "http://127.0.0.1:7411";
    public const string ServerVariable = "KEYBRAKE_SERVER";
    public const string TokenVariable = "KEYBRAKE_ADMIN_TOKEN";

    /// <summary>The file the service writes its generated admin token to, relative to the directory it runs in.</summary>
    public static readonly string TokenFile = Path.Combine("data", "admin-token");

    /// <summary>
    /// <c>--server</c>, else <c>KEYBRAKE_SERVER</c>, else the default; <c>--token</c>, else
    /// <c>KEYBRAKE_ADMIN_TOKEN</c>, else <c>data/admin-token</c> under the current directory, else none;
    /// <c>--ca-file</c>, else <c>KEYBRAKE_CA_FILE</c>, else the system's trusted roots.
    /// </summary>
    public static ConnectionSettings Resolve(string? server, string? token, Func<string, string?> environment, string currentDirectory, string? caFile = null)
    {
        var address = NonEmpty(server) ?? NonEmpty(environment(ServerVariable)) ?? DefaultServer;
        if (!Uri.TryCreate(address, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new UsageException($"'{address}' is not a server address: write http://host:port or https://host:port, such as {DefaultServer}");
        }

        var ca = NonEmpty(caFile) ?? NonEmpty(environment(CaFileVariable));
        if (ca is not null && uri.Scheme != Uri.UriSchemeHttps)
        {
            throw new UsageException($"a CA file (--ca-file or {CaFileVariable}) verifies an https:// server, and {address} is not one");
        }

        return Resolve(uri, token, environment, currentDirectory) with { CaFile = ca is null ? null : Path.GetFullPath(ca, currentDirectory) };
    }

    private static ConnectionSettings Resolve(Uri uri, string? token, Func<string, string?> environment, string currentDirectory)
    {
        if (NonEmpty(token) is { } fromOption)
        {
            return new ConnectionSettings(uri, fromOption, "--token");
        }

        if (NonEmpty(environment(TokenVariable)) is { } fromEnvironment)
        {
            return new ConnectionSettings(uri, fromEnvironment, TokenVariable);
        }

        var file = Path.Combine(currentDirectory, TokenFile);
        if (File.Exists(file))
        {
            try
            {
                return new ConnectionSettings(uri, NonEmpty(File.ReadAllText(file).Trim()), TokenFile);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"cannot read the admin token file {file}: {e.Message}");
            }
        }

        return new ConnectionSettings(uri, null, "none");
    }

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}
