using Docker.DotNet;
using Docker.DotNet.Models;
using Npgsql;

namespace Sandbox.Testing;

/// <summary>
/// PostgreSQL for tests: a container of <c>sandbox-postgres:latest</c> (Debian's postgresql-15, built by
/// <c>deploy/build-images.sh cluster</c>) on the default bridge, reached at its address from the host. Each test takes
/// a database of its own (<see cref="CreateDatabaseAsync"/>). It can be frozen and thawed to play an outage (a stop
/// and start could give it another address on the bridge).
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    public const string Image = "sandbox-postgres:latest";
    public const string Password = "pg-test-password-6c1e93";

    private readonly IDockerClient _client;

    private PostgresServer(IDockerClient client, string containerId)
    {
        _client = client;
        ContainerId = containerId;
    }

    public string ContainerId { get; }
    public string Address { get; private set; } = "";

    public static async Task<PostgresServer> StartAsync(IDockerClient client)
    {
        try
        {
            await client.Images.InspectImageAsync(Image);
        }
        catch (DockerImageNotFoundException)
        {
            throw new InvalidOperationException($"{Image} is missing: run deploy/build-images.sh cluster (deploy/test.sh does).");
        }
        var created = await client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = Image,
            Env = [$"POSTGRES_PASSWORD={Password}", "POSTGRES_FSYNC=off"],
            Labels = new Dictionary<string, string> { ["dev.sandbox.test"] = "true" },
            HostConfig = new HostConfig { Memory = 512L << 20 },
        });
        var server = new PostgresServer(client, created.ID);
        try
        {
            await server.StartContainerAsync();
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
        return server;
    }

    /// <summary>A connection string for <paramref name="database"/>.</summary>
    public string ConnectionString(string database = "sandbox") =>
        $"Host={Address};Port=5432;Username=sandbox;Password={Password};Database={database};Timeout=3;Command Timeout=5";

    /// <summary>A new, empty database; returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = "t_" + Guid.NewGuid().ToString("N")[..16];
        await using var db = new NpgsqlConnection(ConnectionString());
        await db.OpenAsync();
        await using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", db);
        await cmd.ExecuteNonQueryAsync();
        return ConnectionString(name);
    }

    /// <summary>Freezes PostgreSQL (an outage: connections and statements time out); <see cref="ThawAsync"/> ends it.</summary>
    public async Task FreezeAsync() => await _client.Containers.PauseContainerAsync(ContainerId);

    /// <summary>Ends an outage begun by <see cref="FreezeAsync"/>.</summary>
    public async Task ThawAsync() => await _client.Containers.UnpauseContainerAsync(ContainerId);

    /// <summary>Starts the container and waits until PostgreSQL accepts a login.</summary>
    private async Task StartContainerAsync()
    {
        await _client.Containers.StartContainerAsync(ContainerId, new ContainerStartParameters());
        var inspect = await _client.Containers.InspectContainerAsync(ContainerId);
        Address = inspect.NetworkSettings!.Networks!["bridge"].IPAddress;
        Exception? last = null;
        for (var i = 0; i < 300; i++)
        {
            try
            {
                await using var db = new NpgsqlConnection(ConnectionString());
                await db.OpenAsync();
                return;
            }
            catch (Exception e) when (e is NpgsqlException or System.Net.Sockets.SocketException or TimeoutException)
            {
                last = e;
                await Task.Delay(200);
            }
        }
        throw new InvalidOperationException("PostgreSQL did not start accepting logins: " + last?.Message);
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        try
        {
            await ThawAsync();
        }
        catch (DockerApiException)
        {
            // not frozen
        }
        await _client.Containers.RemoveContainerAsync(ContainerId, new ContainerRemoveParameters { Force = true, RemoveVolumes = true });
    }
}
