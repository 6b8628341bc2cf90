using Sandbox.Cli;

return await CliApp.RunAsync(args).ConfigureAwait(false);
