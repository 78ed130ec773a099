using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Keybrake.BudgetService.Hosting;

/// <summary>Loads the service's TLS certificate from <c>BudgetService:Tls</c>: PEM (certificate and key) or PKCS#12.</summary>
internal static class ServiceCertificate
{
    public static X509Certificate2 Load(BudgetServiceTlsOptions tls)
    {
        var path = Path.GetFullPath(tls.CertificatePath!);
        var setting = $"{BudgetServiceOptions.SectionName}:Tls:CertificatePath";
        if (!File.Exists(path))
        {
            throw new ServiceStartException($"{setting}: no certificate file at {path}");
        }

        X509Certificate2 certificate;
        try
        {
            var extension = Path.GetExtension(path).ToLowerInvariant();
            if (extension is ".pfx" or ".p12")
            {
                certificate = X509CertificateLoader.LoadPkcs12FromFile(path, tls.Password, X509KeyStorageFlags.EphemeralKeySet);
            }
            else
            {
                var keyPath = string.IsNullOrWhiteSpace(tls.KeyPath) ? null : Path.GetFullPath(tls.KeyPath);
                if (keyPath is not null && !File.Exists(keyPath))
                {
                    throw new ServiceStartException($"{BudgetServiceOptions.SectionName}:Tls:KeyPath: no key file at {keyPath}");
                }

                certificate = string.IsNullOrEmpty(tls.Password)
                    ? X509Certificate2.CreateFromPemFile(path, keyPath)
                    : X509Certificate2.CreateFromEncryptedPemFile(path, tls.Password, keyPath);
            }
        }
        catch (Exception exception) when (exception is CryptographicException or ArgumentException or IOException or UnauthorizedAccessException)
        {
            // The message names the file and the problem; the password is never part of it.
            throw new ServiceStartException($"{setting}: cannot load the certificate at {path} (PEM with its key, or PKCS#12 with BudgetService:Tls:Password): {exception.Message}");
        }

        if (!certificate.HasPrivateKey)
        {
            certificate.Dispose();
            throw new ServiceStartException($"{setting}: the certificate at {path} comes without its private key (set BudgetService:Tls:KeyPath)");
        }

        return certificate;
    }
}
