namespace Keybrake.Cli;

/// <summary>What the process returns; listed in the root help so scripts can rely on them.</summary>
internal static class ExitCodes
{
    public const int Success = 0;

    /// <summary>The service refused or failed the request (unknown key, invalid policy, ...), or the output could not be written.</summary>
    public const int Failed = 1;

    /// <summary>The command line or an input file is wrong; nothing was sent.</summary>
    public const int Usage = 2;

    /// <summary>The admin token is missing or was refused.</summary>
    public const int Auth = 3;

    /// <summary>The service could not be reached or did not answer in time, or the address does not speak gRPC or its certificate is not trusted.</summary>
    public const int Unreachable = 4;

    public const string HelpText =
        """
          0  success
          1  the service refused or failed the request (unknown key, invalid policy, ...), or an export could not be written
          2  wrong usage or input (a bad amount, an unknown policy field, ...): nothing was sent
          3  the admin token is missing or was refused
          4  the service could not be reached or did not answer in time; or the address does not speak gRPC (HTTP/2), or its TLS certificate is not trusted
        """;
}

/// <summary>A failure the user can act on: one line on standard error and an exit code.</summary>
internal class CliException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>Bad input found before anything was sent to the service.</summary>
internal sealed class UsageException(string message) : CliException(ExitCodes.Usage, message);
