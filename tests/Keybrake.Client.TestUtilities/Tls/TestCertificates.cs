using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Keybrake.Client.Central;

namespace Keybrake.Client.TestUtilities.Tls;

/// <summary>
/// A private certificate authority made for one test, and a server certificate it signed for <c>127.0.0.1</c> and
/// <c>localhost</c>, written as PEM files into a temporary folder: what an operator of a private network would
/// issue to the budget service.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private TestCertificates(string folder)
    {
        Folder = folder;
    }

    public string Folder { get; }

    /// <summary>The CA's certificate (PEM): what clients are given to trust.</summary>
    public string CaPath => Path.Combine(Folder, "ca.pem");

    /// <summary>The server's certificate (PEM).</summary>
    public string CertificatePath => Path.Combine(Folder, "server.pem");

    /// <summary>The server's private key (PEM, PKCS#8).</summary>
    public string KeyPath => Path.Combine(Folder, "server-key.pem");

    /// <summary>The server's certificate and key in one PKCS#12 file, protected by <see cref="PfxPassword"/>.</summary>
    public string PfxPath => Path.Combine(Folder, "server.pfx");

    public const string PfxPassword = "test-pfx-password";

    /// <summary>
    /// Makes a CA named <paramref name="commonName"/> and a server certificate it signed, for <paramref name="hostNames"/>
    /// when given (DNS names only), else for <c>localhost</c> and <c>127.0.0.1</c>.
    /// </summary>
    public static TestCertificates Create(string commonName = "Keybrake test CA", IReadOnlyList<string>? hostNames = null)
    {
        var certificates = new TestCertificates(Directory.CreateTempSubdirectory("keybrake-tls-").FullName);
        var now = DateTimeOffset.UtcNow;

        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest($"CN={commonName}", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, critical: false));
        using var ca = caRequest.CreateSelfSigned(now.AddDays(-1), now.AddDays(30));

        using var serverKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var serverRequest = new CertificateRequest($"CN={hostNames?[0] ?? "localhost"}", serverKey, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        if (hostNames is null)
        {
            names.AddIpAddress(IPAddress.Loopback);
            names.AddDnsName("localhost");
        }
        else
        {
            foreach (var name in hostNames)
            {
                names.AddDnsName(name);
            }
        }

        serverRequest.CertificateExtensions.Add(names.Build());
        serverRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        serverRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        serverRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        serverRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        using var server = serverRequest.Create(ca, now.AddDays(-1), now.AddDays(30), RandomNumberGenerator.GetBytes(16));
        using var serverWithKey = server.CopyWithPrivateKey(serverKey);

        File.WriteAllText(certificates.CaPath, ca.ExportCertificatePem());
        File.WriteAllText(certificates.CertificatePath, server.ExportCertificatePem());
        File.WriteAllText(certificates.KeyPath, serverKey.ExportPkcs8PrivateKeyPem());
        File.WriteAllBytes(certificates.PfxPath, serverWithKey.Export(X509ContentType.Pkcs12, TestCertificates.PfxPassword));
        return certificates;
    }

    /// <summary>The service's settings for this certificate (PEM).</summary>
    public Dictionary<string, string?> ServiceSettings() => new()
    {
        ["BudgetService:Tls:CertificatePath"] = CertificatePath,
        ["BudgetService:Tls:KeyPath"] = KeyPath,
    };

    /// <summary>An HTTP handler whose TLS trusts this CA only, as the guard's and the CLI's do with a CA file.</summary>
    public SocketsHttpHandler TrustingHandler()
    {
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = PrivateCa.Validator(PrivateCa.Load(CaPath));
        return handler;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
            // the temp folder is cleaned by the system
        }
    }
}
