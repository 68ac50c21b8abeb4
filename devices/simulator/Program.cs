using System.CommandLine;
using Iot.Simulator;
using Iot.Simulator.CommandLine;

// iot-simulator: N simulated devices against an Iot broker. `iot-simulator --help` lists the options; docs/simulator.md
// explains them.
var command = SimulatorCommand.Create((options, cancellationToken) =>
    SimulatorRunner.RunAsync(options, Console.Out, Console.Error, inPlace: !Console.IsOutputRedirected, TimeProvider.System, cancellationToken));

// Ctrl+C and SIGTERM cancel the run; the devices then disconnect cleanly and the summary is printed.
return await command.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(15) });
