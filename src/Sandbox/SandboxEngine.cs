using Sandbox.Agents;
using Sandbox.Backend;
using Sandbox.Durability;
using Sandbox.Execution;
using Sandbox.Files;
using Sandbox.Packages;
using Sandbox.Pool;
using Sandbox.Sessions;

namespace Sandbox;

/// <summary>
/// The engine's services in one place, for hosts, tools and tests that want them all (like a client's sub-clients:
/// <c>engine.Sessions</c>, <c>engine.Executions</c>…). It holds no logic: each operation lives in its service, and the
/// faces inject the service they need.
/// </summary>
public sealed class SandboxEngine(
    SessionService sessions,
    ExecutionService executions,
    OutputLog outputs,
    Processes.ProcessService processes,
    Snapshots.SnapshotService snapshots,
    Volumes.VolumeService volumes,
    NestedDocker.NestedDockerService docker,
    Links.LinkService links,
    WorkspaceFileService files,
    WorkspaceArchives archives,
    CodeSearch search,
    PackageCatalog packages,
    AgentRunService agents,
    AgentJobService jobs,
    SessionChanges changes,
    AgentSetup agentSetup,
    InteractiveAgentService interactiveAgents,
    Egress.EgressService egress,
    Git.GitService git,
    Git.GitWorkService gitWork,
    Terminals.TerminalService terminals,
    Ports.PortService ports,
    WarmPool pool,
    SessionRecovery recovery,
    OrphanSweeper orphans,
    ISandboxBackend backend,
    SessionRegistry registry,
    Microsoft.Extensions.Options.IOptions<SandboxOptions> options)
{
    /// <summary>The engine options in force.</summary>
    public SandboxOptions Options => options.Value;

    /// <summary>Create, look up, pause, resume and close sessions; health.</summary>
    public SessionService Sessions => sessions;

    /// <summary>Run code in a session.</summary>
    public ExecutionService Executions => executions;

    /// <summary>The whole output of executions, kept in the workspace: slices and matching lines.</summary>
    public OutputLog Outputs => outputs;

    /// <summary>Background processes beside a session's interpreter.</summary>
    public Processes.ProcessService Processes => processes;

    /// <summary>Workspace snapshots (sessions start from them; forks use them).</summary>
    public Snapshots.SnapshotService Snapshots => snapshots;

    /// <summary>Named volumes: storage that outlives sessions.</summary>
    public Volumes.VolumeService Volumes => volumes;

    /// <summary>Sessions' own Docker engines: images loaded into them.</summary>
    public NestedDocker.NestedDockerService Docker => docker;

    /// <summary>Signed file links.</summary>
    public Links.LinkService Links => links;

    /// <summary>A session's workspace files.</summary>
    public WorkspaceFileService Files => files;

    /// <summary>Whole directories in (an archive, unpacked safely) and out (zip, tar.gz).</summary>
    public WorkspaceArchives Archives => archives;

    /// <summary>Lines of a workspace's text files that match a pattern.</summary>
    public CodeSearch Search => search;

    /// <summary>What an image has installed.</summary>
    public PackageCatalog Packages => packages;

    /// <summary>Coding agent runs.</summary>
    public AgentRunService Agents => agents;

    /// <summary>Agent jobs: a session, its input and one agent run in one request.</summary>
    public AgentJobService Jobs => jobs;

    /// <summary>A session's changes since before its first agent run: diff and summary.</summary>
    public SessionChanges Changes => changes;

    /// <summary>What agents are given before a run: bundled skills (listed here), skills archives, instructions.</summary>
    public AgentSetup AgentSetup => agentSetup;

    /// <summary>Interactive agents: an agent's own interface in a terminal people attach to.</summary>
    public InteractiveAgentService InteractiveAgents => interactiveAgents;

    /// <summary>Session networks: allow lists and their proxies.</summary>
    public Egress.EgressService Egress => egress;

    /// <summary>Git sessions: exports and pushes.</summary>
    public Git.GitService Git => git;

    /// <summary>Git sessions worked with from outside: a caller's bundle in, review, commit.</summary>
    public Git.GitWorkService GitWork => gitWork;

    /// <summary>Interactive terminals in sessions.</summary>
    public Terminals.TerminalService Terminals => terminals;

    /// <summary>Preview ports: expose, grant, connect.</summary>
    public Ports.PortService Ports => ports;

    /// <summary>The warm pool.</summary>
    public WarmPool Pool => pool;

    /// <summary>Start-up reconciliation, shutdown, persistence.</summary>
    public SessionRecovery Recovery => recovery;

    /// <summary>Removal of what crashes left behind.</summary>
    public OrphanSweeper Orphans => orphans;

    /// <summary>The container backend.</summary>
    public ISandboxBackend Backend => backend;

    /// <summary>The live sessions, for the engine's own tests (a session's runner connection, its state).</summary>
    internal SessionRegistry Registry => registry;
}
