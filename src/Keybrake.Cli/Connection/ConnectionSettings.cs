namespace Keybrake.Cli.Connection;

/// <summary>Where the service is and which admin token to present, from options, the environment or the token file.</summary>
internal sealed record ConnectionSettings(Uri Server, string? Token, string TokenSource)
{
    public const string DefaultServer = "http://127.0.0.1:7411";
    public const string ServerVariable = "KEYBRAKE_SERVER";
    public const string TokenVariable = "KEYBRAKE_ADMIN_TOKEN";

    /// <summary>The file the service writes its generated admin token to, relative to the directory it runs in.</summary>
    public static readonly string TokenFile = Path.Combine("data", "admin-token");

    /// <summary>
    /// <c>--server</c>, else <c>KEYBRAKE_SERVER</c>, else the default; <c>--token</c>, else
    /// <c>KEYBRAKE_ADMIN_TOKEN</c>, else <c>data/admin-token</c> under the current directory, else none.
    /// </summary>
    public static ConnectionSettings Resolve(string? server, string? token, Func<string, string?> environment, string currentDirectory)
    {
        var address = NonEmpty(server) ?? NonEmpty(environment(ServerVariable)) ?? DefaultServer;
        if (!Uri.TryCreate(address, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new UsageException($"'{address}' is not a server address: write http://host:port or https://host:port, such as {DefaultServer}");
        }

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
