// A short tour of the client: create a session, analyse data with pandas, draw a plot, download it.
// Usage: dotnet run --project samples/Sandbox.Client.Sample -- [server-url] [output-dir] [rest|mcp]
using Sandbox.Client;

var server = new Uri(args.Length > 0 ? args[0] : "http://127.0.0.1:8080/");
var outputDir = args.Length > 1 ? args[1] : ".";
var transport = args.Length > 2 ? args[2] : "rest";

await using ISandboxClient client = transport == "mcp"
    ? await SandboxMcpClient.ConnectHttpAsync(new Uri(server, "mcp"))
    : new SandboxRestClient(server, Environment.GetEnvironmentVariable("SANDBOX_TOKEN"));

await using var session = await client.StartSessionAsync();
Console.WriteLine($"session {session.Id}");

await session.UploadFileAsync("sales.csv", "month,units\njan,12\nfeb,18\nmar,31\n"u8.ToArray());
var summary = await session.ExecuteAsync("""
    import pandas as pd
    df = pd.read_csv('sales.csv')
    print(df.describe().loc[['mean', 'max']].to_string())
    """);
Console.Write(summary.Stdout);

var plot = await session.ExecuteAsync("""
    import matplotlib.pyplot as plt
    ax = df.plot.bar(x='month', y='units', legend=False, title='Units per month')
    plt.savefig('units.png')
    print('saved')
    """);
if (plot.Error is { } error)
{
    Console.Error.WriteLine(error.Traceback ?? error.Message);
    return 1;
}
Console.Write(plot.Stdout);

var png = await session.DownloadFileAsync("units.png");
var path = Path.Combine(outputDir, "units.png");
await File.WriteAllBytesAsync(path, png);
Console.WriteLine($"wrote {path} ({png.Length} bytes)");
return 0;
