using Iot.Cli;

// iot: the admin CLI (docs/operations.md, "Admin CLI"). `iot --help` lists the commands.
return await CliApp.RunAsync(args, Console.Out, Console.Error);
