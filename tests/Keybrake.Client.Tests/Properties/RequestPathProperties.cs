using System.Text;
using CsCheck;
using Keybrake.Client.TestUtilities.Properties;

namespace Keybrake.Client.Tests;

/// <summary>
/// Request-path normalisation and endpoint matching under generated input: no exception escapes, normalising
/// twice gives what normalising once gave, and a path a deny rule matches is never allowed however it is spelt.
/// </summary>
public sealed class RequestPathProperties
{
    private const string Origin = "https://api.vendor.example";

    private static readonly string[] s_words = ["v1", "payouts", "charges", "refunds", "2010-04-01", "Accounts", "Messages.json", "emails", "batch", "capture"];

    private static readonly Gen<string> s_id = Gen.String[Gen.Char["abcXYZ019_-."], 1, 8].Where(id => id.Trim('.').Length > 0);

    private static readonly Gen<string> s_literal = Gen.OneOf(Gen.OneOf(s_words), s_id);

    private static readonly Gen<string> s_method = Gen.OneOf("GET", "POST", "DELETE", "PUT");

    /// <summary>Paths built of the characters that matter to a path: separators, dots, escapes, letters.</summary>
    private static readonly Gen<string> s_rawPaths = Gen.String[Gen.Char["/\\.%2eEfF5cC0aAzZ?#;:@ "], 0, 40];

    [Test]
    public void No_exception_escapes_from_normalisation_or_matching()
    {
        var rules = Rules(deny: ["* /v1/payouts/**"], allow: ["POST /v1/*", "GET /**"]);
        Gen.Select(s_rawPaths, s_method).Sample((path, method) =>
        {
            if (!Uri.TryCreate(Origin + "/" + path, UriKind.Absolute, out var uri))
            {
                return;
            }

            if (RequestPath.TryParse(uri, out var segments, out _))
            {
                _ = rules.Check(method, segments);
                _ = RequestPath.Join(segments);
            }
        }, iter: PropertyRuns.Iterations);
    }

    [Test]
    public void Normalising_twice_gives_what_normalising_once_gave()
    {
        Gen.OneOf(s_rawPaths, MatchedPaths.Select(m => m.Spelt)).Sample(path =>
        {
            if (!Uri.TryCreate(Origin + "/" + path, UriKind.Absolute, out var uri) || !RequestPath.TryParse(uri, out var once, out _))
            {
                return;
            }

            var again = new Uri(Origin + Canonical(once));
            Assert.That(RequestPath.TryParse(again, out var twice, out var error), Is.True, error);
            Assert.That(twice, Is.EqualTo(once));
        }, iter: PropertyRuns.Iterations);
    }

    [Test]
    public void A_path_a_deny_rule_matches_is_never_allowed_however_it_is_spelt()
    {
        MatchedPaths.Sample(sample =>
        {
            var rules = Rules(deny: [sample.Rule], allow: sample.AlsoAllowAll ? ["* /**"] : []);
            Assume(Uri.TryCreate(Origin + sample.Spelt, UriKind.Absolute, out var uri));

            var allowed = RequestPath.TryParse(uri!, out var segments, out _) && rules.Check(sample.Method, segments) is null;

            Assert.That(allowed, Is.False, $"{sample.Method} {sample.Spelt} ({uri!.AbsolutePath}) passed deny rule '{sample.Rule}'");
        }, iter: PropertyRuns.Iterations, print: sample => $"{sample.Rule} <- {sample.Method} {sample.Spelt}");
    }

    /// <summary>A deny rule, a request it matches, and that request's path spelt another way.</summary>
    internal sealed record MatchedPath(string Rule, string Method, string Spelt, bool AlsoAllowAll);

    private static Gen<MatchedPath> MatchedPaths { get; } =
        from ruleMethod in Gen.OneOf("*", "GET", "POST", "DELETE")
        from requestMethod in s_method
        from ruleSegments in Gen.OneOf(s_literal, Gen.Const("*")).Array[1, 4]
        from rest in Gen.Bool
        from wildcards in s_id.Array[4]
        from tail in s_id.Array[0, 3]
        from spelling in Gen.Int.Array[48]
        from allowAll in Gen.Bool
        let rule = $"{ruleMethod} /{string.Join('/', ruleSegments)}{(rest ? "/**" : string.Empty)}"
        let method = ruleMethod == "*" ? requestMethod : ruleMethod
        let segments = ruleSegments.Select((s, i) => s == "*" ? wildcards[i] : s).Concat(rest ? tail : []).ToArray()
        select new MatchedPath(rule, method, Spell(segments, spelling), allowAll);

    /// <summary>
    /// Spells the path of these segments as a client or an attacker might: letters in another case, characters
    /// percent-encoded (hex in either case), doubled or backslash separators, dot segments, a trailing slash.
    /// </summary>
    private static string Spell(string[] segments, int[] choices)
    {
        var next = 0;
        int Choose() => choices[next++ % choices.Length] & 0xF;
        var path = new StringBuilder();
        foreach (var segment in segments)
        {
            path.Append(Choose() switch
            {
                0 => "//",
                1 => "/./",
                2 => "/xx/../",
                3 => path.Length == 0 ? "/\\" : "\\",
                4 => "/%2e/",
                5 => "/zz/%2E%2e/",
                _ => "/",
            });
            foreach (var c in segment)
            {
                var choice = Choose();
                var ch = choice is 0 or 1 && char.IsAsciiLetter(c) ? (char.IsAsciiLetterUpper(c) ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c)) : c;
                path.Append(choice is 2 or 3 ? (choice == 2 ? $"%{(int)ch:X2}" : $"%{(int)ch:x2}") : ch.ToString());
            }
        }

        path.Append(Choose() switch { 0 => "/", 1 => "//", 2 => "/.", _ => string.Empty });
        return path.ToString();
    }

    private static string Canonical(string[] segments) => "/" + string.Join('/', segments.Select(Uri.EscapeDataString));

    private static EndpointRules Rules(string[] deny, string[] allow) => new(allow.Select(Compile).ToArray(), deny.Select(Compile).ToArray());

    private static EndpointPattern Compile(string rule) =>
        EndpointPattern.TryParse(rule, out var pattern, out var error) ? pattern : throw new InvalidOperationException(error);

    private static void Assume(bool condition)
    {
        if (!condition)
        {
            throw new InvalidOperationException("the generator made a URI the platform cannot parse");
        }
    }
}
