using System.Text.Json;

namespace Sandbox.Cli;

/// <summary>Where the command line finds its server: <c>--url</c>/<c>--token</c>, else <c>SANDBOX_URL</c>/<c>SANDBOX_TOKEN</c>,
/// else the config file (<c>$XDG_CONFIG_HOME/sandbox/config.json</c>, <c>~/.config/sandbox/config.json</c>, on Windows
/// <c>%APPDATA%\sandbox\config.json</c>; <c>SANDBOX_CONFIG</c> names another), else <c>http://127.0.0.1:8080</c> without a token.</summary>
public sealed record CliConfig(string Url, string UrlSource, string? Token, string? TokenSource, string FilePath)
{
    /// <summary>The default server address.</summary>
    public const string DefaultUrl = "http://127.0.0.1:8080";

    /// <summary>Resolves the settings; <paramref name="url"/> and <paramref name="token"/> are the command line's.</summary>
    public static CliConfig Load(string? url, string? token)
    {
        var path = FilePathFor();
        var file = ReadFile(path);
        var (u, us) = Pick(url, "--url", "SANDBOX_URL", file.GetValueOrDefault("url"), path) ?? (DefaultUrl, "default");
        var t = Pick(token, "--token", "SANDBOX_TOKEN", file.GetValueOrDefault("token"), path);
        if (!Uri.TryCreate(u, UriKind.Absolute, out var parsed) || parsed.Scheme is not ("http" or "https"))
        {
            throw new CliException(ExitCodes.Usage, "bad_config", $"The server URL '{u}' (from {us}) is not an http:// or https:// address.");
        }
        return new CliConfig(u.EndsWith('/') ? u : u + "/", us, t?.Value, t?.Source, path);
    }

    private static (string Value, string Source)? Pick(string? option, string optionName, string env, string? fromFile, string path)
    {
        if (!string.IsNullOrEmpty(option))
        {
            return (option, optionName);
        }
        if (Environment.GetEnvironmentVariable(env) is { Length: > 0 } e)
        {
            return (e, env);
        }
        return string.IsNullOrEmpty(fromFile) ? null : (fromFile, path);
    }

    /// <summary>The config file's path (it need not exist).</summary>
    public static string FilePathFor()
    {
        if (Environment.GetEnvironmentVariable("SANDBOX_CONFIG") is { Length: > 0 } named)
        {
            return named;
        }
        if (OperatingSystem.IsWindows())
        {
            return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.ApplicationData), "sandbox", "config.json");
        }
        var xdg = Environment.GetEnvironmentVariable("XDG_CONFIG_HOME");
        var home = string.IsNullOrEmpty(xdg) ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config") : xdg;
        return Path.Combine(home, "sandbox", "config.json");
    }

    private static Dictionary<string, string> ReadFile(string path)
    {
        if (!File.Exists(path))
        {
            return [];
        }
        try
        {
            return JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(path)) ?? [];
        }
        catch (JsonException e)
        {
            throw new CliException(ExitCodes.Usage, "bad_config", $"The config file {path} is not a JSON object of strings: {e.Message}");
        }
    }

    /// <summary>Sets <paramref name="key"/> (<c>url</c> or <c>token</c>) in the config file (readable by its owner only).</summary>
    public static void Set(string key, string? value)
    {
        if (key is not ("url" or "token"))
        {
            throw new CliException(ExitCodes.Usage, "bad_config", "The config keys are url and token.");
        }
        var path = FilePathFor();
        var file = ReadFile(path);
        if (string.IsNullOrEmpty(value))
        {
            file.Remove(key);
        }
        else
        {
            file[key] = value;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, JsonSerializer.Serialize(file, new JsonSerializerOptions { WriteIndented = true }));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }
}
