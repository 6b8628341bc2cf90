namespace Sandbox.Testing;

/// <summary>Paths inside the repository the tests run from.</summary>
public static class RepoPaths
{
    /// <summary>The folder that holds Sandbox.sln.</summary>
    public static string Root
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Sandbox.sln")))
            {
                dir = dir.Parent;
            }
            return dir?.FullName ?? throw new InvalidOperationException("Sandbox.sln not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>The built main assembly of a project folder (e.g. <c>src/Server</c>, <c>Sandbox.Server.dll</c>), same configuration as the tests.</summary>
    public static string BuiltDll(string projectFolder, string dllName)
    {
        var configuration = AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
        var dll = Path.Combine(Root, projectFolder, "bin", configuration, "net10.0", dllName);
        return File.Exists(dll) ? dll : throw new InvalidOperationException($"not built: {dll}");
    }
}
