using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Sandbox.Client.Contracts;
using Sandbox.Server.Hosting;
using Sandbox.Packages;

namespace Sandbox.Server.Api;

/// <summary>REST endpoints of the packages area.</summary>
internal static class PackageEndpoints
{
    public static void Map(RouteGroupBuilder api)
    {
        api.MapPost("/sessions/{id}/packages", async (string id, InstallPackagesRequest body, PackageInstaller installer, HttpContext http, CancellationToken ct) =>
            TypedResults.Ok((await installer.InstallAsync(id, CallerContext.Get(http), body.ToEngine(), ct)).ToDto()))
            .WithName("InstallPackages").WithTags("packages")
            .WithDescription("Installs pip or npm packages into the session (the session keeps no network: a fetcher container fetches them into a shared cache, then they are copied in). "
                + "Checked against the server's allow and deny lists and version pins; all or nothing.");

        api.MapGet("/packages", async ([FromQuery] string? image, PackageCatalog catalog, CancellationToken ct) =>
            TypedResults.Ok((await catalog.GetAsync(image, ct)).ToDto())).WithName("GetPackages").WithTags("packages");
    }
}
