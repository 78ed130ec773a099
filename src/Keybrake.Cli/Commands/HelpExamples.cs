using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;

namespace Keybrake.Cli.Commands;

/// <summary>
/// Examples (and, for the root, more sections) written after a command's standard help: the help is the
/// documentation a user reads first, and an example says more than a list of options.
/// </summary>
internal sealed class HelpExamples
{
    private readonly Dictionary<Command, List<string>> _examples = [];
    private readonly Dictionary<Command, string> _sections = [];

    public void Add(Command command, params string[] examples)
    {
        if (!_examples.TryGetValue(command, out var list))
        {
            _examples[command] = list = [];
        }

        list.AddRange(examples);
    }

    /// <summary>Text written after the examples, such as the exit codes.</summary>
    public void AddSection(Command command, string text) => _sections[command] = text;

    /// <summary>Makes the root's help option (which every command shares) write the examples too.</summary>
    public void Install(Command root)
    {
        var help = root.Options.OfType<HelpOption>().Single();
        help.Action = new ExamplesHelpAction((HelpAction)help.Action!, this);
    }

    private void Write(Command command, TextWriter output)
    {
        if (_examples.TryGetValue(command, out var examples))
        {
            output.WriteLine("Examples:");
            foreach (var example in examples)
            {
                output.WriteLine($"  {example}");
            }

            output.WriteLine();
        }

        if (_sections.TryGetValue(command, out var section))
        {
            output.WriteLine(section);
        }
    }

    private sealed class ExamplesHelpAction(HelpAction standard, HelpExamples examples) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            var exitCode = standard.Invoke(parseResult);
            examples.Write(parseResult.CommandResult.Command, parseResult.InvocationConfiguration.Output);
            return exitCode;
        }
    }
}
