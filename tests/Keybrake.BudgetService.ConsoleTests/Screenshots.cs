namespace Keybrake.BudgetService.ConsoleTests;

/// <summary>Where the browser tests leave their screenshots: the repository's artifacts/console-screenshots (git-ignored).</summary>
internal static class Screenshots
{
    public static string Folder { get; } = Create();

    /// <summary>The repository's root: the folder above the test assembly that holds the solution.</summary>
    public static string RepositoryRoot
    {
        get
        {
            for (var folder = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); folder is not null; folder = folder.Parent)
            {
                if (File.Exists(Path.Combine(folder.FullName, "Keybrake.Client.sln")))
                {
                    return folder.FullName;
                }
            }

            throw new InvalidOperationException("the repository root (Keybrake.Client.sln) is not above the test assembly");
        }
    }

    /// <summary>
    /// Copies a screenshot over docs/console.png, the README's picture, when <c>KEYBRAKE_UPDATE_DOCS_SCREENSHOT=1</c>: an
    /// ordinary test run (CI's included) leaves the repository's files alone.
    /// </summary>
    public static void UpdateDocs(string screenshot)
    {
        if (Environment.GetEnvironmentVariable("KEYBRAKE_UPDATE_DOCS_SCREENSHOT") == "1")
        {
            File.Copy(Path.Combine(Folder, screenshot), Path.Combine(RepositoryRoot, "docs", "console.png"), overwrite: true);
        }
    }

    private static string Create() => Directory.CreateDirectory(Path.Combine(RepositoryRoot, "artifacts", "console-screenshots")).FullName;
}
