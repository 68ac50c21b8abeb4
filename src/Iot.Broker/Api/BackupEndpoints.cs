using Iot.Broker.Hosting.Backup;
using Microsoft.AspNetCore.Mvc;

namespace Iot.Broker.Api;

/// <summary>
/// <c>/api/backups</c>: take an online backup, list, read, download (<c>.tar.gz</c>) and delete backups (docs/api.md,
/// docs/operations.md). Every route needs a <c>service</c> identity, reads included: a backup holds every identity's
/// credential hashes and every stored message.
/// </summary>
internal static class BackupEndpoints
{
    public static IEndpointRouteBuilder MapBackupApi(this IEndpointRouteBuilder api)
    {
        var backups = api.MapGroup("/backups").WithTags("Backups").AddEndpointFilter(ServiceOnly.FilterAsync)
            .ProducesProblem(StatusCodes.Status403Forbidden);
        backups.MapPost("", CreateAsync).WithName("CreateBackup")
            .WithSummary("Takes an online backup of every store now, while the broker serves (in cluster mode: JetStream snapshots of every stream of Iot, kept on this node); answers when it is complete.")
            .Produces<BackupManifest>(StatusCodes.Status201Created)
            .ProducesProblem(StatusCodes.Status409Conflict);
        backups.MapGet("", ([FromServices] BackupService backups) => Results.Ok(new BackupListResponse(backups.List())))
            .WithName("ListBackups")
            .WithSummary("Lists the complete backups, newest first.")
            .Produces<BackupListResponse>();
        backups.MapGet("/{id}", Get).WithName("GetBackup")
            .WithSummary("Gets a backup's manifest: each store's figures and every file with its length and SHA-256.")
            .Produces<BackupManifest>()
            .ProducesProblem(StatusCodes.Status404NotFound);
        backups.MapGet("/{id}/archive", Archive).WithName("DownloadBackup")
            .WithSummary("Downloads a backup as a gzip-compressed tar (its files under {id}/), the file Iot:Restore:From takes.")
            .Produces(StatusCodes.Status200OK, contentType: "application/gzip")
            .ProducesProblem(StatusCodes.Status404NotFound);
        backups.MapDelete("/{id}", Delete).WithName("DeleteBackup")
            .WithSummary("Deletes a backup.")
            .Produces(StatusCodes.Status204NoContent)
            .ProducesProblem(StatusCodes.Status404NotFound);
        return api;
    }

    private static async Task<IResult> CreateAsync([FromServices] BackupService backups, CancellationToken cancellationToken)
    {
        try
        {
            var manifest = await backups.CreateAsync(cancellationToken).ConfigureAwait(false);
            return Results.Created($"/api/backups/{manifest.Id}", manifest);
        }
        catch (BackupInProgressException ex)
        {
            return ApiProblems.Conflict(ex.Message);
        }
    }

    private static IResult Get([FromServices] BackupService backups, string id) =>
        backups.Find(id) is { } manifest ? Results.Ok(manifest) : ApiProblems.NotFound($"There is no backup '{id}'.");

    private static IResult Archive([FromServices] BackupService backups, string id)
    {
        if (backups.Find(id) is not { } manifest)
        {
            return ApiProblems.NotFound($"There is no backup '{id}'.");
        }

        return Results.Stream(
            (output) => backups.WriteArchiveAsync(manifest, output, CancellationToken.None),
            "application/gzip", $"iot-backup-{manifest.Id}.tar.gz");
    }

    private static IResult Delete([FromServices] BackupService backups, string id) =>
        backups.Delete(id) ? Results.NoContent() : ApiProblems.NotFound($"There is no backup '{id}'.");
}

/// <summary>The answer of <c>GET /api/backups</c>.</summary>
/// <param name="Value">The backups, newest first.</param>
internal sealed record BackupListResponse(IReadOnlyList<BackupManifest> Value);
