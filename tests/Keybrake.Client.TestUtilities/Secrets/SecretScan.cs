using System.Text;

namespace Keybrake.Client.TestUtilities.Secrets;

/// <summary>
/// Looks for secrets where they must never be: text (logs, tool output, exported audit) and every file under a folder
/// (databases with their journals, outboxes), as UTF-8 and as UTF-16 bytes, so that a secret stored in either encoding
/// is found. Says where each one was found, never the secret itself, so that a failure message does not leak it either.
/// </summary>
public static class SecretScan
{
    /// <summary>Which of <paramref name="places"/> (name, text) hold any of <paramref name="secrets"/>, by name and secret index.</summary>
    public static IReadOnlyList<string> InTexts(IEnumerable<(string Name, string Text)> places, IReadOnlyList<string> secrets) =>
        places.SelectMany(place => secrets
                .Select((secret, index) => (secret, index))
                .Where(s => place.Text.Contains(s.secret, StringComparison.Ordinal))
                .Select(s => $"{place.Name} holds secret #{s.index}"))
            .ToList();

    /// <summary>Which files under <paramref name="folder"/> (every depth) hold any of <paramref name="secrets"/>, by path and secret index.</summary>
    public static IReadOnlyList<string> InFiles(string folder, IReadOnlyList<string> secrets)
    {
        var found = new List<string>();
        foreach (var path in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
        {
            byte[] bytes;
            try
            {
                using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                using var copy = new MemoryStream();
                stream.CopyTo(copy);
                bytes = copy.ToArray();
            }
            catch (IOException)
            {
                continue; // gone since it was listed (a journal removed at checkpoint)
            }

            for (var index = 0; index < secrets.Count; index++)
            {
                if (bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(secrets[index])) >= 0 || bytes.AsSpan().IndexOf(Encoding.Unicode.GetBytes(secrets[index])) >= 0)
                {
                    found.Add($"{Path.GetRelativePath(folder, path)} holds secret #{index}");
                }
            }
        }

        return found;
    }

    /// <summary>How many files under <paramref name="folder"/> were scanned: a scan of an empty folder proves nothing.</summary>
    public static int FileCount(string folder) => Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Count();
}
