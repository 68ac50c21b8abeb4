using System.CommandLine;
using System.Diagnostics.CodeAnalysis;
using System.Reflection;

[assembly: SuppressMessage("Performance", "CA1812:Avoid uninstantiated internal classes",
    Justification = "Command groups are found and created by CommandGroup.Discover through reflection.",
    Scope = "namespaceanddescendants", Target = "~N:Iot.Cli.Commands")]

namespace Iot.Cli.Commands;

/// <summary>
/// One top-level command of <c>iot</c> (<c>devices</c>, <c>queues</c>, ...) with its subcommands. Every non-abstract
/// subclass in this assembly is found at start-up, so adding a group is adding one file.
/// </summary>
internal abstract class CommandGroup
{
    /// <summary>Builds the group's command; <paramref name="cli"/> gives each action its context.</summary>
    public abstract Command Create(CliActions cli);

    /// <summary>Every command group of this assembly, by command name.</summary>
    public static IReadOnlyList<CommandGroup> Discover() =>
        typeof(CommandGroup).Assembly.GetTypes()
            .Where(t => t.IsSubclassOf(typeof(CommandGroup)) && !t.IsAbstract)
            .Select(t => (CommandGroup)Activator.CreateInstance(t, BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic, null, null, null)!)
            .ToList();

    /// <summary>A command with its description and children (arguments, options, subcommands) in one expression.</summary>
    protected static Command Command(string name, string description, params Symbol[] children)
    {
        var command = new Command(name, description);
        foreach (var child in children)
        {
            switch (child)
            {
                case Argument argument:
                    command.Arguments.Add(argument);
                    break;
                case Option option:
                    command.Options.Add(option);
                    break;
                case Command subcommand:
                    command.Subcommands.Add(subcommand);
                    break;
            }
        }

        return command;
    }
}
