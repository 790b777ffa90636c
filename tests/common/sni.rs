//! Routing by server name in tests: a wildcard certificate of the test CA, and TLS handshakes
//! that ask for a name.

/// A wildcard certificate for `*.kafka.test` signed by the harness's test CA, written to `dir`.
pub fn wildcard_certificate(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    std::fs::create_dir_all(dir).expect("certificate dir");
    let ca = super::tls_dir();
    let (key, csr, ext, pem) = (
        dir.join("sni.key"),
        dir.join("sni.csr"),
        dir.join("sni.ext"),
        dir.join("sni.pem"),
    );
    std::fs::write(
        &ext,
        "basicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature, keyEncipherment\n\
         extendedKeyUsage = serverAuth\nsubjectAltName = DNS:*.kafka.test\n",
    )
    .expect("extensions");
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    let path = |p: &std::path::Path| p.to_str().expect("utf-8 path").to_owned();
    run(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=*.kafka.test",
        "-keyout",
        &path(&key),
        "-out",
        &path(&csr),
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        &path(&csr),
        "-CA",
        &path(&ca.join("ca.pem")),
        "-CAkey",
        &path(&ca.join("ca.key")),
        "-set_serial",
        &format!("0x{}", super::unique_tag()),
        "-days",
        "30",
        "-sha256",
        "-extfile",
        &path(&ext),
        "-out",
        &path(&pem),
    ]);
    (pem, key)
}

/// A TLS handshake with the proxy asking for `server_name`: the certificate's names, or the
/// error.
pub async fn handshake(addr: std::net::SocketAddr, server_name: &str) -> Result<(), String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(super::tls_dir().join("ca.pem")).expect("ca") {
        roots.add(cert.expect("ca pem")).expect("ca cert");
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from(server_name.to_owned()).expect("name");
    connector
        .connect(name, tcp)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}
