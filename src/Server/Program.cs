using Sandbox.Server.Hosting;

return await ServerProgram.RunAsync(args);
