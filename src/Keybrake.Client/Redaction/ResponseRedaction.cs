using System.Net.Http.Headers;

namespace Keybrake.Client;

/// <summary>
/// Takes the secret out of the vendor's answer before the SDK sees it: a vendor (or anything in between) that
/// echoes the request's <c>Authorization</c> header into an error would otherwise put the secret in the SDK's
/// exception message, and from there into the agent's logs.
/// </summary>
internal static class ResponseRedaction
{
    /// <summary>
    /// Redacts the headers now and the body as the SDK reads it. A body the guard already read whole (to learn
    /// the cost) is scanned once and left as it is when it is clean, which is the common case; any other body
    /// is read through <see cref="RedactingStream"/>, however large.
    /// </summary>
    /// <returns><see langword="true"/> when a form of the secret was found in a header or in a body read whole.</returns>
    public static bool Apply(HttpResponseMessage response, SecretForms secrets, HttpContent? readContent, ReadOnlyMemory<byte> readBody)
    {
        if (secrets.IsEmpty)
        {
            return false;
        }

        var found = RedactHeaders(response.Headers, secrets);
        var content = response.Content;
        if (ReferenceEquals(readContent, content) && secrets.FindFirst(readBody.Span).Index < 0)
        {
            return RedactHeaders(content.Headers, secrets) || found;
        }

        if (content.Headers.ContentLength == 0)
        {
            return RedactHeaders(content.Headers, secrets) || found;
        }

        found |= ReferenceEquals(readContent, content) || HeadersContain(content.Headers, secrets);
        response.Content = new RedactingContent(content, secrets);
        return found;
    }

    private static bool HeadersContain(HttpHeaders headers, SecretForms secrets)
    {
        foreach (var (_, values) in headers.NonValidated)
        {
            foreach (var value in values)
            {
                if (secrets.IsIn(value))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static bool RedactHeaders(HttpHeaders headers, SecretForms secrets)
    {
        List<(string Name, string[] Values)>? changed = null;
        foreach (var (name, values) in headers.NonValidated)
        {
            foreach (var value in values)
            {
                if (secrets.IsIn(value))
                {
                    changed ??= [];
                    changed.Add((name, [.. values.Select(secrets.Redact)]));
                    break;
                }
            }
        }

        if (changed is null)
        {
            return false;
        }

        foreach (var (name, values) in changed)
        {
            headers.Remove(name);
            headers.TryAddWithoutValidation(name, values);
        }

        return true;
    }
}
