using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Sandbox.Egress;
using Sandbox.Files;
using Sandbox.Runner;
using Sandbox.Sessions;
using static Sandbox.Runner.RunnerJson;

namespace Sandbox.Agents;

/// <summary>
/// What an agent is given before a run, in its home (never the user's workspace): skills (bundled ones the operator
/// ships in <see cref="AgentOptions.SkillsDirectory"/>, then a caller's archive, a later skill replacing one of the same
/// name), standing instructions, and the check that its MCP servers are reachable the way the session's network allows.
/// Archives are unpacked inside the sandbox by the runner, as the sandbox user, checked as workspace archives are.
/// </summary>
public sealed partial class AgentSetup(WorkspaceStreams streams, SessionRegistry registry, IOptions<AgentOptions> agents, IOptions<WorkspaceFileOptions> files,
    IOptions<EgressOptions> egress, IOptions<SandboxOptions> sandbox, TimeProvider time)
{
    private const string Home = ".sandbox/home/";
    private const long MaxBundledBytes = 64L * 1024 * 1024;
    private readonly AgentOptions _agents = agents.Value;
    private readonly WorkspaceFileOptions _files = files.Value;

    /// <summary>The bundled skills (folders with a <c>SKILL.md</c> in <see cref="AgentOptions.SkillsDirectory"/>), by name.</summary>
    public IReadOnlyList<AgentSkill> ListBundled()
    {
        if (string.IsNullOrEmpty(_agents.SkillsDirectory) || !Directory.Exists(_agents.SkillsDirectory))
        {
            return [];
        }
        return new DirectoryInfo(_agents.SkillsDirectory).EnumerateDirectories()
            .Where(d => d.LinkTarget is null && IsSkillName(d.Name) && File.Exists(Path.Combine(d.FullName, "SKILL.md")))
            .Select(d => new AgentSkill(d.Name, Describe(Path.Combine(d.FullName, "SKILL.md")), "bundled"))
            .OrderBy(s => s.Name, StringComparer.Ordinal).ToList();
    }

    /// <summary>Refuses, before anything runs, what cannot be set up: skills or instructions for an agent without them,
    /// unknown bundled skills, and MCP servers the session's network does not let the agent reach.</summary>
    internal void Check(Session session, IAgentRunner agent, AgentRunRequest request)
    {
        if ((request.Skills.Count > 0 || request.SkillsArchive is not null) && agent.SkillsFolder is null)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"Agent '{agent.Name}' has no skills folder; leave skills and skills_archive out.");
        }
        if (request.Instructions is not null && agent.InstructionsFile is null)
        {
            throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"Agent '{agent.Name}' reads no instructions file; leave instructions out.");
        }
        if (request.Skills.Count > 0)
        {
            var bundled = ListBundled().Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
            if (request.Skills.FirstOrDefault(n => !bundled.Contains(n ?? "")) is { } unknown)
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                    $"No bundled skill '{SafeText.Shorten(unknown)}' on this server. List them with list_skills (GET /api/skills); send your own as skills_archive.");
            }
        }
        if (request.SkillsArchive is { Length: var size } && size > _files.MaxUploadBytes)
        {
            throw new SandboxException(SandboxErrorCodes.FileTooLarge, $"skills_archive is {size} bytes, above the upload cap of {_files.MaxUploadBytes} bytes.");
        }
        if (request.RemoteSkills.Count > 0)
        {
            if (agent.SkillsFolder is null)
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument, $"Agent '{agent.Name}' has no skills folder; leave remote_skills out.");
            }
            if (request.RemoteSkills.Count > 8)
            {
                throw new SandboxException(SandboxErrorCodes.LimitExceeded, "remote_skills may name at most 8 repositories.");
            }
            foreach (var remote in request.RemoteSkills)
            {
                var url = RemoteSkillUrl(remote);
                if (!Reachable(session, url))
                {
                    throw new SandboxException(SandboxErrorCodes.EgressNotPermitted,
                        $"Remote skills '{SafeText.Shorten(remote)}' are fetched through the session's network, which does not allow {url.IdnHost}"
                        + (session.Network is null ? " (the session has no network)" : "") + $": create the session with {url.IdnHost} in network.allow, or send the skills as skills_archive.");
                }
            }
        }
        ClaudeCodeOptions.CheckMcpServers(request.McpServers);
        foreach (var (name, server) in request.McpServers ?? new Dictionary<string, AgentMcpServer>())
        {
            if (ClaudeCodeOptions.IsHttp(server))
            {
                CheckReachable(session, name, server);
            }
        }
    }

    /// <summary>Writes (or removes) the agent's policy files in its home for <paramref name="policy"/>.</summary>
    internal async Task WritePolicyFilesAsync(Session session, IAgentRunner agent, AgentGitPolicy policy, CancellationToken ct)
    {
        foreach (var (file, text) in agent.PolicyFiles(policy))
        {
            if (text is null)
            {
                // Gone or never there: either way not there now (a refusal other than "not found" is an error).
                var reply = await session.Live.AskAsync(new DeleteRequest(Home + file), TimeSpan.FromSeconds(30), "delete", ct).ConfigureAwait(false);
                if (reply.Type == "error" && Str(reply.Body, "code") != "file_not_found")
                {
                    throw new SandboxException(SandboxErrorCodes.Internal, $"The agent's policy file could not be removed: {SafeText.Shorten(Str(reply.Body, "message"))}");
                }
                continue;
            }
            var bytes = Encoding.UTF8.GetBytes(text);
            using var body = new MemoryStream(bytes, writable: false);
            await streams.WriteAsync(session.Id, session.Owner, Home + file, body, bytes.Length, bytes.Length, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Installs the skills and writes the instructions; returns the skills installed. A refused archive is
    /// <c>invalid_archive</c> or <c>unsafe_archive</c> and installs nothing of itself.</summary>
    internal async Task<IReadOnlyList<AgentSkill>> PrepareAsync(Session session, IAgentRunner agent, AgentRunRequest request, CancellationToken ct)
    {
        var installed = new Dictionary<string, AgentSkill>(StringComparer.Ordinal);
        if (request.Skills.Count > 0)
        {
            using var tar = BundledArchive(request.Skills.Distinct(StringComparer.Ordinal));
            foreach (var skill in await InstallAsync(session, agent, tar, "bundled", ct).ConfigureAwait(false))
            {
                installed[skill.Name] = skill;
            }
        }
        if (request.SkillsArchive is { } archive)
        {
            using var stream = new MemoryStream(archive.ToArray(), writable: false);
            foreach (var skill in await InstallAsync(session, agent, stream, "uploaded", ct).ConfigureAwait(false))
            {
                installed[skill.Name] = skill;
            }
        }
        foreach (var remote in request.RemoteSkills.Distinct(StringComparer.Ordinal))
        {
            foreach (var skill in await FetchRemoteAsync(session, agent, remote, ct).ConfigureAwait(false))
            {
                installed[skill.Name] = skill;
            }
        }
        if (request.Instructions is { } instructions && agent.InstructionsFile is { } file)
        {
            var bytes = Encoding.UTF8.GetBytes(instructions);
            using var body = new MemoryStream(bytes, writable: false);
            await streams.WriteAsync(session.Id, session.Owner, Home + file, body, bytes.Length, bytes.Length, ct).ConfigureAwait(false);
        }
        return installed.Values.OrderBy(s => s.Name, StringComparer.Ordinal).ToList();
    }

    private async Task<IReadOnlyList<AgentSkill>> InstallAsync(Session session, IAgentRunner agent, Stream archive, string source, CancellationToken ct)
    {
        var temp = $".sandbox/uploads/{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}.skills";
        await streams.WriteAsync(session.Id, session.Owner, temp, archive, archive.Length, _files.MaxUploadBytes, ct).ConfigureAwait(false);
        var reply = await session.Live.AskAsync(new InstallSkillsRequest(temp, Home + agent.SkillsFolder, _files.MaxArchiveEntries, _files.MaxArchiveBytes),
            TimeSpan.FromMinutes(5), "skills", ct).ConfigureAwait(false);
        return Installed(reply, source);
    }

    /// <summary>The skills an install answered, or its refusal as an error.</summary>
    private static List<AgentSkill> Installed(RunnerMessage reply, string source)
    {
        if (reply.Type == "error")
        {
            var code = Str(reply.Body, "code") is SandboxErrorCodes.UnsafeArchive or SandboxErrorCodes.LimitExceeded or SandboxErrorCodes.WorkspaceFull
                ? Str(reply.Body, "code")! : SandboxErrorCodes.InvalidArchive;
            throw new SandboxException(code, $"The {source} skills were not installed: {SafeText.Shorten(Str(reply.Body, "message"), 500)}");
        }
        var list = new List<AgentSkill>();
        if (reply.Body.TryGetProperty("skills", out var skills) && skills.ValueKind == System.Text.Json.JsonValueKind.Array)
        {
            foreach (var s in skills.EnumerateArray())
            {
                list.Add(new AgentSkill(Str(s, "name") ?? "", SafeText.Shorten(Str(s, "description") ?? "", 1024), source));
            }
        }
        return list;
    }

    /// <summary>Clones a skills repository in the session (as the sandbox user, through its network: git honours the
    /// session's proxy), archives its tree and installs the skills in it.</summary>
    private async Task<IReadOnlyList<AgentSkill>> FetchRemoteAsync(Session session, IAgentRunner agent, string remote, CancellationToken ct)
    {
        var url = RemoteSkillUrl(remote);
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var (clone, archive) = ($"/workspace/.sandbox/remote/{id}", $".sandbox/uploads/{id}.skills");
        try
        {
            await GitAsync(session, remote, ["mkdir", "-p", "/workspace/.sandbox/uploads", "/workspace/.sandbox/remote"], ct).ConfigureAwait(false);
            await GitAsync(session, remote, ["git", "clone", "--depth", "1", "--quiet", "--no-tags", "--", url.AbsoluteUri, clone], ct).ConfigureAwait(false);
            await GitAsync(session, remote, ["git", "-c", "safe.directory=*", "-C", clone, "archive", "--format=tar", "-o", "/workspace/" + archive, "HEAD"], ct).ConfigureAwait(false);
        }
        finally
        {
            await GitAsync(session, remote, ["rm", "-rf", "--", clone], CancellationToken.None, check: false).ConfigureAwait(false);
        }
        var reply = await session.Live.AskAsync(new InstallSkillsRequest(archive, Home + agent.SkillsFolder, _files.MaxArchiveEntries, _files.MaxArchiveBytes),
            TimeSpan.FromMinutes(5), "skills", ct).ConfigureAwait(false);
        return Installed(reply, "remote:" + remote);
    }

    private async Task GitAsync(Session session, string remote, IReadOnlyList<string> argv, CancellationToken ct, bool check = true)
    {
        var result = await RunnerProcess.RunAsync(session, registry, new ExecRequest
        {
            Language = "argv", Argv = argv, MaxOutput = 64 * 1024,
            Env = new Dictionary<string, string> { ["GIT_TERMINAL_PROMPT"] = "0", ["LC_ALL"] = "C" },
        }, TimeSpan.FromMinutes(2), sandbox.Value.KillGrace, time, ct).ConfigureAwait(false);
        if (check && result.ExitCode != 0)
        {
            var why = result.Refused ?? (result.ExitCode is null ? "it did not finish within 2 minutes" : result.Stderr.Trim());
            throw new SandboxException(SandboxErrorCodes.GitFailed, $"Remote skills '{SafeText.Shorten(remote)}' could not be fetched ({argv[0]} {argv[1]}): {SafeText.Shorten(why, 600)}");
        }
    }

    /// <summary>The clone URL of a remote skills source: <c>owner/repo</c> (GitHub) or an http(s) git URL without
    /// credentials, query or fragment.</summary>
    internal static Uri RemoteSkillUrl(string remote)
    {
        if (remote is not null && OwnerRepo().IsMatch(remote))
        {
            return new Uri($"https://github.com/{remote}.git");
        }
        if (Uri.TryCreate(remote, UriKind.Absolute, out var uri) && uri.Scheme is "https" or "http" && uri.UserInfo.Length == 0
            && uri.Query.Length == 0 && uri.Fragment.Length == 0 && remote.Length <= 2000)
        {
            return uri;
        }
        throw new SandboxException(SandboxErrorCodes.InvalidArgument,
            $"remote_skills: '{SafeText.Shorten(remote)}' is neither owner/repo (GitHub) nor an http(s) git URL without credentials.");
    }

    [System.Text.RegularExpressions.GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")]
    private static partial System.Text.RegularExpressions.Regex OwnerRepo();

    /// <summary>A tar of the named bundled skill folders (regular files and folders; links are left out), bounded.</summary>
    private MemoryStream BundledArchive(IEnumerable<string> names)
    {
        var output = new MemoryStream();
        long total = 0;
        var entries = 0;
        using (var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var name in names)
            {
                var root = new DirectoryInfo(Path.Combine(_agents.SkillsDirectory!, name));
                var pending = new Stack<(DirectoryInfo Dir, string Prefix)>([(root, name)]);
                while (pending.TryPop(out var at))
                {
                    foreach (var entry in at.Dir.EnumerateFileSystemInfos().OrderBy(e => e.Name, StringComparer.Ordinal))
                    {
                        if (entry.LinkTarget is not null)
                        {
                            continue;
                        }
                        if (++entries > _files.MaxArchiveEntries)
                        {
                            throw new SandboxException(SandboxErrorCodes.LimitExceeded, $"Bundled skill '{name}' has more than {_files.MaxArchiveEntries} files.");
                        }
                        var path = at.Prefix + "/" + entry.Name;
                        if (entry is DirectoryInfo dir)
                        {
                            writer.WriteEntry(new PaxTarEntry(TarEntryType.Directory, path + "/") { Mode = (UnixFileMode)0b111_101_101 });
                            pending.Push((dir, path));
                        }
                        else if (entry is FileInfo file)
                        {
                            total += file.Length;
                            if (total > MaxBundledBytes)
                            {
                                throw new SandboxException(SandboxErrorCodes.LimitExceeded, $"The bundled skills asked for hold more than {MaxBundledBytes} bytes.");
                            }
                            writer.WriteEntry(file.FullName, path);
                        }
                    }
                }
            }
        }
        output.Position = 0;
        return output;
    }

    /// <summary>An HTTP MCP server must be on the session's network (allow list), and a secret for it must be one of
    /// the session's, for that server's host: otherwise the agent could not reach it, and says so only in its log.</summary>
    private void CheckReachable(Session session, string name, AgentMcpServer server)
    {
        var uri = new Uri(server.Url!);
        var network = session.Network;
        if (!Reachable(session, uri))
        {
            throw new SandboxException(SandboxErrorCodes.Forbidden,
                $"MCP server '{name}' is at {uri.IdnHost}:{uri.Port}, which this session's network does not allow; create the session with that host in network.allow (or a secret for it in network.secrets).");
        }
        if (server.Secret is { } secret)
        {
            if (network is null || !network.Secrets.Contains(secret, StringComparer.Ordinal) || !egress.Value.Secrets.TryGetValue(secret, out var options))
            {
                throw new SandboxException(SandboxErrorCodes.Forbidden,
                    $"MCP server '{name}' names secret '{SafeText.Shorten(secret)}', which is not on this session's network; create the session with it in network.secrets.");
            }
            if (!string.Equals(options.Host, uri.IdnHost, StringComparison.OrdinalIgnoreCase))
            {
                throw new SandboxException(SandboxErrorCodes.InvalidArgument,
                    $"MCP server '{name}' is at {uri.IdnHost}, but secret '{secret}' is added for {options.Host} only.");
            }
        }
    }

    /// <summary>Whether the session's network lets its code reach the URL's host and port (an allow-list pattern, or a
    /// secret's host).</summary>
    private bool Reachable(Session session, Uri uri) =>
        session.Network is { } network && (network.Allow.Any(p => EgressPattern.TryParse(p, out var pattern, out _) && pattern.Matches(uri.IdnHost, uri.Port))
            || network.Secrets.Any(s => egress.Value.Secrets.TryGetValue(s, out var o) && string.Equals(o.Host, uri.IdnHost, StringComparison.OrdinalIgnoreCase)));

    private static bool IsSkillName(string name) =>
        name.Length is > 0 and <= 64 && name[0] is not ('.' or '-') && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    /// <summary>The <c>description</c> of a SKILL.md's front matter, or empty.</summary>
    private static string Describe(string skillFile)
    {
        using var reader = new StreamReader(skillFile);
        if (reader.ReadLine()?.Trim() != "---")
        {
            return "";
        }
        for (var i = 0; i < 200 && reader.ReadLine() is { } line && line.Trim() != "---"; i++)
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0 && line[..colon].Trim() == "description")
            {
                return SafeText.Shorten(line[(colon + 1)..].Trim().Trim('"', '\''), 1024);
            }
        }
        return "";
    }
}
