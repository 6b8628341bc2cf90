using System.Globalization;
using Docker.DotNet.Models;
using Sandbox.Backend;
using Sandbox.Isolation;
using Sandbox.Sessions;

namespace Sandbox.Docker;

/// <summary>The hardened shapes of the containers the backend starts: a session's container and workspace volume, and
/// the one-shot helper. Every limit and restriction they get is here, in one place.</summary>
internal static class ContainerSpecs
{
    /// <summary>The workspace: a tmpfs-backed named volume, bounded in size and inodes, owned by the sandbox user.</summary>
    public static VolumesCreateParameters SessionWorkspace(string name, SandboxLimits limits, IDictionary<string, string> labels) => new()
    {
        Name = name,
        Driver = "local",
        DriverOpts = new Dictionary<string, string>
        {
            ["type"] = "tmpfs",
            ["device"] = "tmpfs",
            ["o"] = string.Create(CultureInfo.InvariantCulture, $"size={limits.WorkspaceMb}m,nr_inodes={InodeBudget(limits.WorkspaceMb)},uid=1000,gid=1000,mode=0755,nosuid,nodev"),
        },
        Labels = labels,
    };

    /// <summary>The volume behind <c>/context</c> of a session given context archives: tmpfs like the workspace, as large
    /// as it, owned by root (the runner unpacks into it; the sandbox user reads).</summary>
    public static VolumesCreateParameters SessionContext(string name, SandboxLimits limits, IDictionary<string, string> labels) => new()
    {
        Name = ContextVolume(name),
        Driver = "local",
        DriverOpts = new Dictionary<string, string>
        {
            ["type"] = "tmpfs",
            ["device"] = "tmpfs",
            ["o"] = string.Create(CultureInfo.InvariantCulture, $"size={limits.WorkspaceMb}m,nr_inodes={InodeBudget(limits.WorkspaceMb)},uid=0,gid=0,mode=0755,nosuid,nodev"),
        },
        Labels = labels,
    };

    /// <summary>A session's copy of a named volume: tmpfs as large as the volume, owned by the sandbox user when it is
    /// mounted read-write, by root (the sandbox user reads) when read-only.</summary>
    public static VolumesCreateParameters SessionVolume(string name, Volumes.SandboxVolume volume, IDictionary<string, string> labels) => new()
    {
        Name = VolumeCopy(name, volume),
        Driver = "local",
        DriverOpts = new Dictionary<string, string>
        {
            ["type"] = "tmpfs",
            ["device"] = "tmpfs",
            ["o"] = string.Create(CultureInfo.InvariantCulture,
                $"size={volume.SizeMb}m,nr_inodes={InodeBudget(volume.SizeMb)},uid={(volume.ReadOnly ? 0 : 1000)},gid={(volume.ReadOnly ? 0 : 1000)},mode=0755,nosuid,nodev"),
        },
        Labels = labels,
    };

    /// <summary>The engine's name of a session's copy of a named volume.</summary>
    public static string VolumeCopy(string name, Volumes.SandboxVolume volume) => name + "-vol" + volume.DockerVolume;

    /// <summary>The name of a session's context volume.</summary>
    public static string ContextVolume(string name) => name + "-context";

    /// <summary>The container: runner as its process, no network, read-only root, limits, no capabilities for user code.
    /// An image named by reference gets the runner's own Python runtime from <paramref name="runtimeVolume"/>, read-only,
    /// started through its own loader so nothing of the image's libraries is used.</summary>
    public static CreateContainerParameters Session(string name, SandboxSpec spec, IDictionary<string, string> labels, string? runtimeVolume = null)
    {
        var limits = spec.Limits;
        var docker = spec.DockerStorageMb;
        var memory = spec.Isolation == IsolationTier.Gvisor ? GvisorHostMemory(limits) + Mib(docker ?? 0) : Mib(limits.MemoryMb);
        // A nested engine's layers and files may be larger than a user file may be, and it holds many files open.
        var fileSize = Mib(docker is null ? limits.FileSizeMb : Math.Max(limits.FileSizeMb, docker.Value));
        var noFile = docker is null ? limits.NoFile : Math.Max(limits.NoFile, 65536);
        return new CreateContainerParameters
        {
            Name = name,
            Image = spec.ImageReference,
            Labels = labels,
            // The runner is the engine's own code, passed as an argument so any image with python3 works (any image at
            // all with the runtime).
            Cmd = runtimeVolume is null
                ? ["python3", "-I", "-u", "-c", EmbeddedScript.Runner.Value]
                : [ForeignImages.RuntimePath + "/lib/ld.so", "--library-path", ForeignImages.RuntimePath + "/lib", ForeignImages.RuntimePath + "/bin/python3",
                    "-I", "-u", "-c", EmbeddedScript.Runner.Value],
            Entrypoint = [],
            User = "0:0",
            WorkingDir = "/workspace",
            Env = runtimeVolume is null ? Environment(spec) : [.. Environment(spec), "SANDBOX_USER_PYTHON=python3"],
            AttachStdin = true,
            AttachStdout = true,
            AttachStderr = true,
            OpenStdin = true,
            StdinOnce = false,
            Tty = false,
            // Network mode none, not NetworkDisabled: a disabled network cannot be swapped for an agent run's internal
            // network (the container would get no interface and no resolver).
            HostConfig = new HostConfig
            {
                // No docker-init: the runner is its own init (main.py's become_init), without docker-init's timer.
                NetworkMode = "none",
                Memory = memory,
                MemorySwap = memory,
                NanoCPUs = (long)(limits.Cpus * 1e9),
                PidsLimit = HostPids(spec) + (docker is null ? 0 : NestedEngineHostPids),
                ReadonlyRootfs = true,
                CapDrop = ["ALL"],
                // Only for the runner (uid 0): drop to uid 1000 for user code and stop runaway user processes.
                // User code runs as uid 1000 with no capabilities (no-new-privileges stops regaining any).
                // With a nested engine (gVisor only, see NestedEngineCapabilities) the runner starts dockerd with more.
                CapAdd = docker is null ? ["SETUID", "SETGID", "KILL"] : [.. NestedEngineCapabilities],
                SecurityOpt = ["no-new-privileges"],
                Ulimits =
                [
                    new Ulimit { Name = "nofile", Soft = noFile, Hard = noFile },
                    new Ulimit { Name = "fsize", Soft = fileSize, Hard = fileSize },
                    new Ulimit { Name = "core", Soft = 0, Hard = 0 },
                ],
                Tmpfs = Tmpfs(limits, docker),
                ExtraHosts = docker is null ? [] : ["services:127.0.0.1"],
                ShmSize = Mib(ShmMb),
                Mounts = [new Mount { Type = "volume", Source = name, Target = "/workspace" },
                    .. spec.CallerContext ? [new Mount { Type = "volume", Source = ContextVolume(name), Target = "/context" }] : Array.Empty<Mount>(),
                    .. runtimeVolume is null ? Array.Empty<Mount>() : [new Mount { Type = "volume", Source = runtimeVolume, Target = ForeignImages.RuntimePath, ReadOnly = true }],
                    .. spec.Volumes.Select(v => new Mount { Type = "volume", Source = VolumeCopy(name, v), Target = v.Target }),
                    .. (spec.Context ?? []).Select(c => new Mount { Type = "bind", Source = c.HostPath, Target = "/context/" + c.Name, ReadOnly = true })],
                Runtime = spec.Runtime,
                LogConfig = new LogConfig { Type = "none" },
                RestartPolicy = new RestartPolicy { Name = RestartPolicyKind.No },
            },
        };
    }

    /// <summary>The memory-backed mounts: <c>/tmp</c>, and for a nested engine its storage (bounded), <c>/run</c> (its
    /// sockets, state and runtime wrapper) and <c>/etc/docker</c> (its key), over the read-only root.</summary>
    private static Dictionary<string, string> Tmpfs(SandboxLimits limits, int? docker)
    {
        var mounts = new Dictionary<string, string>
        {
            ["/tmp"] = string.Create(CultureInfo.InvariantCulture, $"rw,nosuid,nodev,size={limits.TmpMb}m,nr_inodes={InodeBudget(limits.TmpMb)},mode=1777"),
        };
        if (docker is { } storage)
        {
            mounts["/var/lib/docker"] = string.Create(CultureInfo.InvariantCulture, $"rw,exec,size={storage}m,mode=0710");
            mounts["/run"] = "rw,exec,nosuid,size=64m,mode=0755";
            mounts["/etc/docker"] = "rw,noexec,nosuid,size=1m,mode=0700";
        }
        return mounts;
    }

    /// <summary>
    /// The capabilities of a sandbox with a nested engine: those gVisor documents for Docker inside it. They are the
    /// sandbox's own kernel's (gVisor's), never the host's: its kernel, not the host's, mounts, makes namespaces and
    /// configures the network for the nested containers. Only root in the sandbox (the runner, dockerd) holds them;
    /// user code still runs as the sandbox user with none. Never given in the container tier (refused there).
    /// </summary>
    internal static readonly string[] NestedEngineCapabilities =
    [
        "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "NET_ADMIN", "NET_RAW",
        "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_ADMIN", "SYS_CHROOT", "SYS_PTRACE",
    ];

    /// <summary>Host pids a nested engine adds: its daemons are many threads, each several host threads under gVisor.</summary>
    private const int NestedEngineHostPids = 4096;

    /// <summary>The runner's environment. Under gVisor the session's process limit is enforced by the sandbox's own
    /// kernel (the runner sets <c>RLIMIT_NPROC</c> for user code from <c>SANDBOX_NPROC</c>): there every process of the
    /// sandbox belongs to it alone, so the per-user limit is exact; in the container tier the uid is shared with the host
    /// kernel and the cgroup's pids limit does the job instead.</summary>
    private static List<string> Environment(SandboxSpec spec)
    {
        var env = new List<string>
        {
            "SANDBOX_UID=1000", "SANDBOX_GID=1000", "PYTHONDONTWRITEBYTECODE=1", "MPLCONFIGDIR=/tmp/matplotlib", "HOME=/workspace",
            string.Create(CultureInfo.InvariantCulture, $"SANDBOX_ADDRESS_LIMIT={AddressLimit(spec.Limits)}"),
            string.Create(CultureInfo.InvariantCulture, $"SANDBOX_MEMORY_LIMIT={Mib(spec.Limits.MemoryMb)}"),
        };
        if (spec.Isolation == IsolationTier.Gvisor)
        {
            env.Add(string.Create(CultureInfo.InvariantCulture, $"SANDBOX_NPROC={GvisorProcesses(spec.Limits)}"));
            env.Add(string.Create(CultureInfo.InvariantCulture, $"SANDBOX_AGENT_NPROC={AgentProcesses(spec.Limits)}"));
            env.Add("SANDBOX_MEMORY_WATCH=1");
        }
        if (spec.DockerStorageMb is not null)
        {
            env.Add("SANDBOX_DOCKER=1");
        }
        return env;
    }

    private static long Mib(long n) => n * 1024L * 1024L;

    /// <summary>
    /// The host's memory limit of a gVisor session: its own limit, a quarter more, 128 MiB for gVisor's kernel, and
    /// room for its memory-backed files where they could outgrow the limit. Under gVisor the whole sandbox is one
    /// process to the host and a host OOM kill ends all of it (session and files; gVisor has no OOM handling inside),
    /// so the session's own limit is kept inside instead, by the runner's memory watch (<c>SANDBOX_MEMORY_LIMIT</c>:
    /// it stops the user process holding the most), and the host's bound is only a backstop it never reaches. The
    /// margin covers what user code can add between two looks of the watch (measured: ~180 MB/s of fresh memory under
    /// the ptrace platform; the watch looks every 5–100 ms, more often the fuller the session).
    /// </summary>
    internal static long GvisorHostMemory(SandboxLimits limits)
    {
        var files = limits.WorkspaceMb + limits.TmpMb + ShmMb;
        return AddressLimit(limits) + Mib(Math.Max(0, files - limits.MemoryMb));
    }

    /// <summary>The address-space limit of each user process (<c>RLIMIT_AS</c>, set by the runner), and the base of
    /// the gVisor host limit: the session's memory, a quarter more and 128 MiB. One allocation larger than the session can hold (<c>bytearray(8 GiB)</c>)
    /// then fails at once with <c>MemoryError</c>, the interpreter and its variables intact, instead of filling the
    /// session first; it leaves room for the address space runtimes reserve beyond what they use (numpy, node).</summary>
    internal static long AddressLimit(SandboxLimits limits) => Mib(limits.MemoryMb + limits.MemoryMb / 4 + 128);

    private const int ShmMb = 64;

    /// <summary>
    /// User processes a gVisor session may have: its pids limit, but at most one per 16 MiB of its memory. Under gVisor
    /// all of a sandbox's memory is its kernel's, and running out stops the whole sandbox; a forked interpreter that
    /// touches its heap costs about 10 MiB there (measured: a Python fork bomb held to 32 processes used 180 MiB, growing
    /// by ~11 MiB/s while it kept trying). With this cap a fork bomb meets "Resource temporarily unavailable" and a
    /// timeout, as in the container tier, instead of ending the session.
    /// </summary>
    internal static int GvisorProcesses(SandboxLimits limits) => Math.Min(limits.Pids, Math.Max(16, limits.MemoryMb / 16));

    /// <summary>
    /// The process limit of an agent run under gVisor (its processes and threads: the limit counts both): at least 64,
    /// within the session's pids limit. An agent CLI is one process with many threads (measured: Codex runs ~36 tasks
    /// on 2 cores, Claude Code ~15), which cost little memory, unlike the forked interpreters
    /// <see cref="GvisorProcesses"/> is sized for.
    /// </summary>
    internal static int AgentProcesses(SandboxLimits limits) => Math.Min(limits.Pids, Math.Max(GvisorProcesses(limits), 64));

    /// <summary>
    /// The host-side pids limit. Under gVisor every sandboxed process costs several host threads (measured with the
    /// ptrace platform: a Python fork bomb held to 64 processes peaked at 1,678 host pids), and hitting the host limit
    /// crashes the whole sandbox rather than failing one fork; the session's own limit is kept inside (see
    /// <see cref="Environment"/>), and this bound only protects the host.
    /// </summary>
    internal static long HostPids(SandboxSpec spec) => spec.Isolation == IsolationTier.Gvisor ? AgentProcesses(spec.Limits) * 32L + 512 : spec.Limits.Pids;

    /// <summary>A throw-away helper for short read-only queries: no network, read-only, uid 1000, small limits.</summary>
    public static CreateContainerParameters OneShot(string name, string helperId, string imageReference, IList<string> command, string instanceId, string? runtime) => new()
    {
        Name = name,
        Image = imageReference,
        Cmd = command,
        Entrypoint = [],
        User = "1000:1000",
        AttachStdout = true,
        AttachStderr = true,
        NetworkDisabled = true,
        Labels = SandboxLabels.Of(instanceId, helperId, null, DateTimeOffset.UtcNow),
        HostConfig = new HostConfig
        {
            NetworkMode = "none", Memory = 256L << 20, MemorySwap = 256L << 20, PidsLimit = 64, NanoCPUs = 1_000_000_000,
            ReadonlyRootfs = true, CapDrop = ["ALL"], SecurityOpt = ["no-new-privileges"],
            Tmpfs = new Dictionary<string, string> { ["/tmp"] = "rw,nosuid,nodev,size=16m" },
            Runtime = runtime,
        },
    };

    /// <summary>
    /// Inodes a tmpfs of <paramref name="sizeMb"/> may hold: one per 4 KiB, at least 1024. Empty files use no blocks,
    /// so without this bound millions of empty files would turn into kernel memory charged to the session's cgroup
    /// until the OOM killer ends the session instead of the write failing with "No space left on device".
    /// </summary>
    internal static long InodeBudget(int sizeMb) => Math.Max(1024L, sizeMb * 256L);
}
