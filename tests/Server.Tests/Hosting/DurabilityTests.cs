using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Sandbox.Client.Contracts;
using Sandbox.Docker;
using Sandbox.Ports;
using Sandbox.Server.Hosting;
using Sandbox.Sessions;

namespace Sandbox.Server.Tests.Hosting;

/// <summary>Sessions and their history survive a server restart; broken stores fail the start with a clear message.</summary>
public sealed class DurabilityTests : IAsyncLifetime
{
    private readonly string _data = Directory.CreateTempSubdirectory("sandbox-durable-").FullName;
    private readonly string _instance = "srvtest-durable-" + Guid.NewGuid().ToString("N")[..8];

    private Task<(WebApplication App, HttpClient Http)> StartServer(string? dataDirectory = null) =>
        Common.DurableServer.StartAsync(_instance, dataDirectory ?? _data);

    private static async Task<ExecutionResultDto> Execute(HttpClient http, string id, string code)
    {
        var r = await http.PostAsJsonAsync($"/api/sessions/{id}/execute", new { code });
        r.EnsureSuccessStatusCode();
        return (await r.Content.ReadFromJsonAsync<ExecutionResultDto>(SandboxJson.Options))!;
    }

    [Fact]
    public async Task Sessions_files_state_and_history_survive_a_restart()
    {
        var (first, http) = await StartServer();
        var ids = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            var s = await (await http.PostAsJsonAsync("/api/sessions", new { })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options);
            ids.Add(s!.Id);
            (await http.PutAsync($"/api/sessions/{s.Id}/files/kept.txt", new StringContent($"file of {i}"))).EnsureSuccessStatusCode();
            await Execute(http, s.Id, $"x = {40 + i}");
        }
        await first.StopAsync();
        await first.DisposeAsync();
        http.Dispose();

        var (second, http2) = await StartServer();
        try
        {
            var listed = await http2.GetFromJsonAsync<List<SessionDto>>("/api/sessions", SandboxJson.Options);
            Assert.Equal(ids.Order(), listed!.Select(s => s.Id).Order());
            Assert.All(listed!, s => Assert.Equal("ready", s.Status));
            for (var i = 0; i < 2; i++)
            {
                Assert.Equal($"file of {i}", await http2.GetStringAsync($"/api/sessions/{ids[i]}/files/kept.txt"));
                // The interpreter kept running in its container while no server was attached: its variables are intact.
                Assert.Equal($"{41 + i}\n", (await Execute(http2, ids[i], "print(x + 1)")).Stdout);
                var history = await http2.GetFromJsonAsync<List<HistoryEntryDto>>($"/api/sessions/{ids[i]}/history", SandboxJson.Options);
                Assert.Equal(["created", "execution", "resumed", "execution"], history!.Select(h => h.Kind));
                Assert.Equal(64, history![1].CodeSha256!.Length);
                Assert.Equal(6, history[1].CodeSize);
                Assert.Equal(0, history[1].ExitCode);
                Assert.Contains($"{41 + i}", history[3].Output);
            }
        }
        finally
        {
            foreach (var id in ids)
            {
                await http2.DeleteAsync($"/api/sessions/{id}");
            }
            await second.StopAsync();
            await second.DisposeAsync();
            http2.Dispose();
        }
    }

    [Fact]
    public async Task An_exposed_port_answers_again_after_a_restart_and_an_unexposed_one_stays_closed()
    {
        var (first, http) = await StartServer();
        var s = (await (await http.PostAsJsonAsync("/api/sessions", new { })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;
        (await http.PutAsync($"/api/sessions/{s.Id}/files/site/index.html", new StringContent("still here"))).EnsureSuccessStatusCode();
        (await http.PostAsJsonAsync($"/api/sessions/{s.Id}/processes",
            new { argv = new[] { "python3", "-m", "http.server", "8000", "--bind", "127.0.0.1" }, cwd = "site" })).EnsureSuccessStatusCode();
        (await http.PostAsJsonAsync($"/api/sessions/{s.Id}/expose", new { port = 8000 })).EnsureSuccessStatusCode();
        (await http.PostAsJsonAsync($"/api/sessions/{s.Id}/expose", new { port = 9000 })).EnsureSuccessStatusCode();
        (await http.DeleteAsync($"/api/sessions/{s.Id}/expose/9000")).EnsureSuccessStatusCode();
        await first.StopAsync();
        await first.DisposeAsync();
        http.Dispose();

        var (second, http2) = await StartServer();
        try
        {
            var after = await http2.GetFromJsonAsync<SessionDto>($"/api/sessions/{s.Id}", SandboxJson.Options);
            Assert.Equal([8000], after!.Ports);
            using var previews = Sandbox.Testing.Previews.Client(http2.BaseAddress!);
            var preview = $"http://{{0}}.localhost:{http2.BaseAddress!.Port}/";
            var page = await Sandbox.Testing.Previews.UntilUpAsync(() => previews.GetAsync(string.Format(preview, PreviewHost.Label(s.Id, 8000)) + "index.html"));
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Equal("still here", await page.Content.ReadAsStringAsync());
            Assert.Equal(HttpStatusCode.Forbidden, (await previews.GetAsync(string.Format(preview, PreviewHost.Label(s.Id, 9000)))).StatusCode);
        }
        finally
        {
            await http2.DeleteAsync($"/api/sessions/{s.Id}");
            await second.StopAsync();
            await second.DisposeAsync();
            http2.Dispose();
        }
    }

    [Fact]
    public async Task A_running_execution_and_a_background_process_outlive_a_server_restart_and_read_on_from_their_cursors()
    {
        var (first, http) = await StartServer();
        var session = (await (await http.PostAsJsonAsync("/api/sessions", new { })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;
        var started = await http.PostAsJsonAsync($"/api/sessions/{session.Id}/execute", new
        {
            code = "import time\nfor i in range(30):\n    print('tick', i, flush=True)\n    time.sleep(0.2)\nsurvived = True", wait_seconds = 1, timeout_seconds = 120,
        });
        var handle = (await started.Content.ReadFromJsonAsync<ExecutionResultDto>(SandboxJson.Options))!;
        Assert.Equal("running", handle.Status);
        var process = (await (await http.PostAsJsonAsync($"/api/sessions/{session.Id}/processes", new
        {
            command = "for i in $(seq 1 30); do echo line$i; sleep 0.2; done",
        })).Content.ReadFromJsonAsync<ProcessDto>(SandboxJson.Options))!;
        var early = (await http.GetFromJsonAsync<ProcessOutputDto>($"/api/sessions/{session.Id}/processes/{process.ProcessId}/output?wait_seconds=2", SandboxJson.Options))!;
        Assert.StartsWith("line1\n", early.Stdout, StringComparison.Ordinal);
        await first.StopAsync();
        await first.DisposeAsync();
        http.Dispose();
        await Task.Delay(1500); // the code and the process go on with no server attached

        var (second, http2) = await StartServer();
        try
        {
            var text = new System.Text.StringBuilder(handle.Stdout);
            var cursor = handle.Cursor;
            ExecutionResultDto next;
            do
            {
                next = (await http2.GetFromJsonAsync<ExecutionResultDto>($"/api/sessions/{session.Id}/executions/{handle.ExecutionId}?cursor={cursor}&wait_seconds=5", SandboxJson.Options))!;
                text.Append(next.Stdout);
                cursor = next.Cursor;
            }
            while (next.Status == "running");
            Assert.Equal("finished", next.Status);
            Assert.Equal(string.Concat(Enumerable.Range(0, 30).Select(i => $"tick {i}\n")), text.ToString());
            Assert.Equal("True\n", (await Execute(http2, session.Id, "print(survived)")).Stdout);

            var lines = new System.Text.StringBuilder(early.Stdout);
            var stdoutCursor = early.StdoutCursor;
            ProcessOutputDto more;
            do
            {
                more = (await http2.GetFromJsonAsync<ProcessOutputDto>($"/api/sessions/{session.Id}/processes/{process.ProcessId}/output?stdout_cursor={stdoutCursor}&wait_seconds=5", SandboxJson.Options))!;
                lines.Append(more.Stdout);
                stdoutCursor = more.StdoutCursor;
            }
            while (more.Process.Running || more.Stdout.Length > 0);
            Assert.Equal(string.Concat(Enumerable.Range(1, 30).Select(i => $"line{i}\n")), lines.ToString());
            Assert.Equal(0, more.Process.ExitCode);
            var history = await http2.GetFromJsonAsync<List<HistoryEntryDto>>($"/api/sessions/{session.Id}/history", SandboxJson.Options);
            Assert.Contains(history!, h => h.Kind == "execution" && h.Output!.Contains("tick 29", StringComparison.Ordinal) && h.CodeSha256!.Length == 64);
            Assert.DoesNotContain(history!, h => h.Kind == "execution" && h.ErrorType is not null);
        }
        finally
        {
            await http2.DeleteAsync($"/api/sessions/{session.Id}");
            await second.StopAsync();
            await second.DisposeAsync();
            http2.Dispose();
        }
    }

    [Fact]
    public async Task Snapshots_outlive_a_restart_and_sessions_and_forks_made_from_them_keep_every_file()
    {
        var (first, http) = await StartServer();
        var source = (await (await http.PostAsJsonAsync("/api/sessions", new { })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;
        await Execute(http, source.Id, "import os\nos.makedirs('d/e', exist_ok=True)\nopen('d/e/f.txt', 'w').write('kept')\nopen('top.bin', 'wb').write(os.urandom(1 << 20))\nimport hashlib\nprint(hashlib.sha256(open('top.bin', 'rb').read()).hexdigest())");
        var digest = (await Execute(http, source.Id, "import hashlib\nprint(hashlib.sha256(open('top.bin', 'rb').read()).hexdigest())")).Stdout;
        var snapshot = (await (await http.PostAsJsonAsync($"/api/sessions/{source.Id}/snapshots", new { name = "before restart" })).Content.ReadFromJsonAsync<SnapshotDto>(SandboxJson.Options))!;
        await http.DeleteAsync($"/api/sessions/{source.Id}");
        await first.StopAsync();
        await first.DisposeAsync();
        http.Dispose();

        var (second, http2) = await StartServer();
        var ids = new List<string>();
        try
        {
            Assert.Contains(await http2.GetFromJsonAsync<List<SnapshotDto>>("/api/snapshots", SandboxJson.Options) ?? [], s => s.SnapshotId == snapshot.SnapshotId && s.Name == "before restart");
            var restored = (await (await http2.PostAsJsonAsync("/api/sessions", new { from_snapshot = snapshot.SnapshotId })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options))!;
            ids.Add(restored.Id);
            const string check = "import hashlib\nprint(open('d/e/f.txt').read(), hashlib.sha256(open('top.bin', 'rb').read()).hexdigest())";
            var expected = "kept " + digest;
            Assert.Equal(expected, (await Execute(http2, restored.Id, check)).Stdout);
            var forks = (await (await http2.PostAsJsonAsync($"/api/sessions/{restored.Id}/fork", new { count = 2 })).Content.ReadFromJsonAsync<List<SessionDto>>(SandboxJson.Options))!;
            ids.AddRange(forks.Select(f => f.Id));
            var grand = (await (await http2.PostAsJsonAsync($"/api/sessions/{forks[1].Id}/fork", new { count = 1 })).Content.ReadFromJsonAsync<List<SessionDto>>(SandboxJson.Options))!;
            ids.AddRange(grand.Select(f => f.Id));
            foreach (var id in forks.Select(f => f.Id).Concat(grand.Select(g => g.Id)))
            {
                Assert.Equal(expected, (await Execute(http2, id, check)).Stdout);
            }
            Assert.Equal(HttpStatusCode.NoContent, (await http2.DeleteAsync($"/api/snapshots/{snapshot.SnapshotId}")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await http2.PostAsJsonAsync("/api/sessions", new { from_snapshot = snapshot.SnapshotId })).StatusCode);
        }
        finally
        {
            foreach (var id in ids)
            {
                await http2.DeleteAsync($"/api/sessions/{id}");
            }
            await second.StopAsync();
            await second.DisposeAsync();
            http2.Dispose();
        }
    }

    [Fact]
    public async Task A_session_whose_container_vanished_during_downtime_is_lost_with_a_clear_error()
    {
        var (first, http) = await StartServer();
        var s = await (await http.PostAsJsonAsync("/api/sessions", new { })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options);
        await first.StopAsync();
        await first.DisposeAsync();
        using var backend = new DockerBackend(Microsoft.Extensions.Options.Options.Create(new SandboxOptions()), Microsoft.Extensions.Logging.Abstractions.NullLogger<DockerBackend>.Instance);
        await backend.Client.Containers.RemoveContainerAsync(DockerBackend.ContainerName(s!.Id), new global::Docker.DotNet.Models.ContainerRemoveParameters { Force = true });

        var (second, http2) = await StartServer();
        try
        {
            var session = await http2.GetFromJsonAsync<SessionDto>($"/api/sessions/{s.Id}", SandboxJson.Options);
            Assert.Equal("lost", session!.Status);
            Assert.Contains("removed", session.LostReason);
            var r = await http2.PostAsJsonAsync($"/api/sessions/{s.Id}/execute", new { code = "1" });
            Assert.Equal(HttpStatusCode.Gone, r.StatusCode);
            Assert.Contains("session_lost", await r.Content.ReadAsStringAsync());
            Assert.Equal(HttpStatusCode.NoContent, (await http2.DeleteAsync($"/api/sessions/{s.Id}")).StatusCode);
        }
        finally
        {
            await second.StopAsync();
            await second.DisposeAsync();
        }
    }

    [Fact]
    public async Task Pause_freezes_and_use_resumes()
    {
        var (app, http) = await StartServer();
        try
        {
            var s = await (await http.PostAsJsonAsync("/api/sessions", new { })).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options);
            await Execute(http, s!.Id, "kept = 'yes'");
            var paused = await (await http.PostAsync($"/api/sessions/{s.Id}/pause", null)).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options);
            Assert.Equal("paused", paused!.Status);
            var docker = app.Services.GetRequiredService<SandboxEngine>().DockerClient();
            Assert.True((await docker.Containers.InspectContainerAsync(DockerBackend.ContainerName(s.Id))).State?.Paused == true);
            Assert.Equal("yes\n", (await Execute(http, s.Id, "print(kept)")).Stdout);
            Assert.False((await docker.Containers.InspectContainerAsync(DockerBackend.ContainerName(s.Id))).State?.Paused == true);
            await http.PostAsync($"/api/sessions/{s.Id}/pause", null);
            var resumed = await (await http.PostAsync($"/api/sessions/{s.Id}/resume", null)).Content.ReadFromJsonAsync<SessionDto>(SandboxJson.Options);
            Assert.Equal("ready", resumed!.Status);
            var kinds = (await http.GetFromJsonAsync<List<HistoryEntryDto>>($"/api/sessions/{s.Id}/history", SandboxJson.Options))!.Select(h => h.Kind).ToList();
            Assert.Equal(["created", "execution", "paused", "resumed", "execution", "paused", "resumed"], kinds);
            await http.DeleteAsync($"/api/sessions/{s.Id}");
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task Unusable_data_directory_fails_the_start_with_a_clear_error()
    {
        var file = Path.Combine(_data, "not-a-directory");
        await File.WriteAllTextAsync(file, "x");
        var e = await Assert.ThrowsAsync<SandboxException>(() => StartServer(Path.Combine(file, "sub")));
        Assert.Contains("Cannot open the session store", e.Message);
        Assert.Contains("Sandbox:Durability:DataDirectory", e.Message);
    }

    [Fact]
    public async Task Locked_database_fails_the_start_with_a_clear_error()
    {
        var dir = Directory.CreateTempSubdirectory("sandbox-locked-").FullName;
        var path = Path.Combine(dir, "sandbox.db");
        await using (var create = new SqliteConnection($"Data Source={path}"))
        {
            await create.OpenAsync();
        }
        await using var holder = new SqliteConnection($"Data Source={path};Pooling=False");
        await holder.OpenAsync();
        await using (var cmd = holder.CreateCommand())
        {
            cmd.CommandText = "PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS hold (x);";
            await cmd.ExecuteNonQueryAsync();
        }
        var e = await Assert.ThrowsAsync<SandboxException>(() => StartServer(dir));
        Assert.Contains("locked", e.Message);
        Assert.Contains("stop the other server", e.Message);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_data, recursive: true);
        return Task.CompletedTask;
    }
}
