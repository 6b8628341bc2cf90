using Microsoft.AspNetCore.Mvc;
using Sandbox.Client.Contracts;
using Sandbox.Server.Contracts;
using Sandbox.Server.Hosting;
using Sandbox.Volumes;

namespace Sandbox.Server.Api;

/// <summary>REST endpoints of named volumes: create, list, inspect, delete, and their files without a session.</summary>
internal static class VolumeEndpoints
{
    public static void Map(RouteGroupBuilder api)
    {
        var volumes = api.MapGroup("/volumes").WithTags("volumes");
        volumes.MapPost("", async (CreateVolumeRequest body, VolumeService service, HttpContext http, CancellationToken ct) =>
            {
                var v = (await service.CreateAsync(CallerContext.Get(http), body.Name ?? "", body.SizeMb, ct)).ToDto();
                return TypedResults.Created($"/api/volumes/{Uri.EscapeDataString(v.Name)}", v);
            })
            .WithName("CreateVolume").WithDescription("Creates an empty named volume: {name, size_mb} (default 1024 MiB, at most the server's maximum).");
        volumes.MapGet("", (VolumeService service, HttpContext http) => TypedResults.Ok(service.List(CallerContext.Get(http)).Select(v => v.ToDto()).ToList()))
            .WithName("ListVolumes").WithDescription("Your volumes with their size used and the sessions that mount them.");
        volumes.MapGet("/{name}", (string name, VolumeService service, HttpContext http) => TypedResults.Ok(service.Get(CallerContext.Get(http), name).ToDto()))
            .WithName("GetVolume");
        volumes.MapDelete("/{name}", async (string name, [FromQuery] bool? force, VolumeService service, HttpContext http, CancellationToken ct) =>
            {
                await service.DeleteAsync(CallerContext.Get(http), name, force ?? false, ct);
                return TypedResults.NoContent();
            })
            .WithName("DeleteVolume").WithDescription("Deletes a volume; 409 volume_busy while sessions mount it, unless ?force=true (they keep their copies, nothing is saved back).");

        volumes.MapGet("/{name}/files", async (string name, VolumeService service, HttpContext http, CancellationToken ct) =>
                TypedResults.Ok((await service.ListFilesAsync(CallerContext.Get(http), name, ct)).Select(e => new VolumeEntryDto(e.Path, e.Kind, e.Size)).ToList()))
            .WithName("ListVolumeFiles").WithDescription("Every entry of the volume's saved content.");
        volumes.MapGet("/{name}/files/{**path}", async (string name, string path, VolumeService service, HttpContext http, CancellationToken ct) =>
                TypedResults.Bytes(await service.DownloadAsync(CallerContext.Get(http), name, path, 256L << 20, ct), "application/octet-stream"))
            .WithName("DownloadVolumeFile").WithDescription("One file of the volume's saved content (up to 256 MiB; the archive for more).");
        volumes.MapPut("/{name}/files/{**path}", async (string name, string path, VolumeService service, HttpContext http, CancellationToken ct) =>
                TypedResults.Ok((await service.UploadAsync(CallerContext.Get(http), name, path, http.Request.Body, ct)).ToDto()))
            .WithName("UploadVolumeFile").WithDescription("Writes one file (the body) into the volume; 409 volume_busy while a session mounts it read-write; 400 limit_exceeded past its size.");
        volumes.MapPost("/{name}/links", (string name, CreateLinkRequest body, VolumeService service, Sandbox.Links.LinkService links, HttpContext http,
                Microsoft.Extensions.Options.IOptions<ServerOptions> server) =>
            {
                var owner = CallerContext.Get(http);
                service.Get(owner, name);
                var link = links.CreateForVolume(name, owner, body.Path, body.Method ?? "GET", body.ExpiresSeconds is { } s ? TimeSpan.FromSeconds(s) : null, body.SingleUse ?? false);
                return TypedResults.Ok(new FileLinkDto(PublicLinks.BaseUrl(http, server.Value) + link.VolumeRelativeUrl, link.Path, link.Method, link.ExpiresAt, link.SingleUse));
            })
            .WithName("CreateVolumeFileLink").WithDescription("A short-lived link to one file of the volume: GET downloads it, PUT uploads it (curl -T); no bearer token needed.");
        volumes.MapGet("/{name}/archive", (string name, VolumeService service, HttpContext http) =>
                TypedResults.Stream(service.OpenArchive(CallerContext.Get(http), name), "application/x-tar", name + ".tar"))
            .WithName("DownloadVolumeArchive").WithDescription("The volume's saved content as a tar archive.");
        volumes.MapPut("/{name}/archive", async (string name, VolumeService service, HttpContext http, CancellationToken ct) =>
                TypedResults.Ok((await service.ReplaceAsync(CallerContext.Get(http), name, http.Request.Body, ct)).ToDto()))
            .WithName("ReplaceVolumeArchive").WithDescription("Replaces the volume's whole content with a tar archive (files, folders and links; no absolute or '..' names).");
    }

    /// <summary>Serves <c>/volume-links/{token}/{path}</c>: the token is the only credential (no bearer token), for one
    /// file, one method, until it expires.</summary>
    public static async Task<IResult> ServeAsync(string token, string? path, HttpContext http, Sandbox.Links.LinkService links, VolumeService volumes,
        Microsoft.Extensions.Options.IOptions<Sandbox.Links.LinkOptions> linkOptions, CancellationToken ct)
    {
        var (volume, owner, file) = await links.RedeemForVolumeAsync(token, http.Request.Method, path ?? "", ct);
        http.Response.Headers.CacheControl = "no-store";
        if (HttpMethods.IsPut(http.Request.Method))
        {
            if (http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            {
                limit.MaxRequestBodySize = linkOptions.Value.MaxUploadBytes;
            }
            return TypedResults.Ok((await volumes.UploadAsync(owner, volume, file, http.Request.Body, ct)).ToDto());
        }
        var bytes = await volumes.DownloadAsync(owner, volume, file, 256L << 20, ct);
        return HttpMethods.IsHead(http.Request.Method) ? TypedResults.Ok() : TypedResults.Bytes(bytes, "application/octet-stream", file.Split('/')[^1]);
    }
}
