using System.CommandLine;
using Grpc.Core;
using Keybrake.Cli.Connection;
using Keybrake.Cli.Output;
using Keybrake.Cli.Secrets;

namespace Keybrake.Cli.Commands;

/// <summary>The options every command takes, and the one place a command's body is run and its failures explained.</summary>
internal sealed class GlobalOptions(TimeProvider time, Func<string, string?> environment, string currentDirectory, SecretInput secrets)
{
    public Option<string?> Server { get; } = new("--server")
    {
        Description = $"The budget service's address [default: ${ConnectionSettings.ServerVariable}, else {ConnectionSettings.DefaultServer}]. http:// uses HTTP/2 without TLS; https:// verifies the service's certificate.",
        HelpName = "url",
        Recursive = true,
    };

    public Option<string?> Token { get; } = new("--token")
    {
        Description = $"The admin token [default: ${ConnectionSettings.TokenVariable}, else the file {ConnectionSettings.TokenFile} under the current directory (where the service writes it), else none]. Prefer the variable: a command line is visible to other users. Never printed.",
        HelpName = "token",
        Recursive = true,
    };

    public Option<string?> CaFile { get; } = new("--ca-file")
    {
        Description = $"For an https:// server with a certificate from a private CA: the CA's certificate (PEM or DER), trusted in place of the system's roots [default: ${ConnectionSettings.CaFileVariable}]. The chain and the host name are still checked.",
        HelpName = "path",
        Recursive = true,
    };

    public Option<bool> Json { get; } = new("--json")
    {
        Description = "Write the service's reply as one JSON document (protobuf JSON: camelCase names, amounts as strings of micro-USD) instead of a table.",
        Recursive = true,
    };

    public TimeProvider Time { get; } = time;

    /// <summary>Where the commands that store a vendor secret read it.</summary>
    public SecretInput Secrets { get; } = secrets;

    public void AddTo(Command root)
    {
        root.Options.Add(Server);
        root.Options.Add(Token);
        root.Options.Add(CaFile);
        root.Options.Add(Json);
    }

    /// <summary>Sets <paramref name="command"/>'s action: <paramref name="body"/> with a session, failures as one line and an exit code.</summary>
    public void SetAction(Command command, Func<ParseResult, AdminSession, CancellationToken, Task> body)
    {
        command.SetAction(async (parse, cancellationToken) =>
        {
            var error = parse.InvocationConfiguration.Error;
            AdminSession? session = null;
            try
            {
                var settings = ConnectionSettings.Resolve(parse.GetValue(Server), parse.GetValue(Token), environment, currentDirectory, parse.GetValue(CaFile));
                session = new AdminSession(settings, parse.GetValue(Json), parse.InvocationConfiguration.Output, error, Time);
                await body(parse, session, cancellationToken).ConfigureAwait(false);
                return ExitCodes.Success;
            }
            catch (RpcException e) when (session is not null && e.StatusCode != StatusCode.Cancelled)
            {
                return Fail(error, await session.ExplainAsync(e, cancellationToken).ConfigureAwait(false));
            }
            catch (CliException e)
            {
                return Fail(error, e);
            }
            finally
            {
                session?.Dispose();
            }
        });
    }

    private static int Fail(TextWriter error, CliException failure)
    {
        error.WriteLine($"error: {OneLine.Of(failure.Message)}");
        return failure.ExitCode;
    }
}
