using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Keybrake.Client.Central;

/// <summary>
/// Verifies the budget service's TLS certificate against a private certificate authority instead of the system's
/// roots: the chain must end at one of the given CA certificates, be valid for server authentication, and name
/// the host that was dialled. Nothing is skipped; only the trust store differs.
/// </summary>
internal static class PrivateCa
{
    private static readonly Oid s_serverAuthentication = new("1.3.6.1.5.5.7.3.1");

    /// <summary>The CA certificates in a PEM file (one or more) or a DER file; throws with the path and the problem.</summary>
    public static X509Certificate2Collection Load(string path)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new InvalidDataException($"no CA certificate file at {full}");
        }

        var roots = new X509Certificate2Collection();
        try
        {
            roots.ImportFromPemFile(full);
            if (roots.Count == 0)
            {
                roots.Add(X509CertificateLoader.LoadCertificateFromFile(full));
            }
        }
        catch (CryptographicException exception)
        {
            throw new InvalidDataException($"the CA certificate file at {full} holds no certificate (PEM or DER): {exception.Message}", exception);
        }

        return roots;
    }

    /// <summary>A server certificate check that trusts <paramref name="roots"/> only.</summary>
    public static RemoteCertificateValidationCallback Validator(X509Certificate2Collection roots) =>
        (_, certificate, presented, errors) =>
        {
            // A missing certificate or a name that does not match is never excused; only the chain is checked again.
            if (certificate is null || (errors & (SslPolicyErrors.RemoteCertificateNotAvailable | SslPolicyErrors.RemoteCertificateNameMismatch)) != 0)
            {
                return false;
            }

            using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(roots);

            // Private CAs seldom publish revocation lists; the check would fail for want of one.
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.ApplicationPolicy.Add(s_serverAuthentication);
            if (presented is not null)
            {
                // Intermediates the server sent with its certificate.
                foreach (var element in presented.ChainElements)
                {
                    chain.ChainPolicy.ExtraStore.Add(element.Certificate);
                }
            }

            return chain.Build(leaf);
        };
}
