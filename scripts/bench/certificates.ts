// The HTTPS scenarios' certificate, made with the openssl CLI for this run only.

/** A certificate and key for localhost, and a client that trusts the CA that signed them. */
export interface TlsFixture {
  cert: string;
  key: string;
  /** The CA's certificate, PEM. */
  pem: string;
  client: Deno.HttpClient;
}

/**
 * An ECDSA P-256 certificate for localhost signed by a throwaway CA (Deno's fetch, which checks
 * the answer before a run, takes no self-signed certificate as its own CA), for both servers'
 * HTTPS; null without the openssl CLI.
 */
export function makeCertificate(dir: string): TlsFixture | null {
  const ca = `${dir}/ca.pem`, cert = `${dir}/cert.pem`, key = `${dir}/key.pem`;
  const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2"];
  const steps = [
    ["req", "-x509", ...EC, "-keyout", `${dir}/ca.key`, "-out", ca, "-subj", "/CN=rawserve bench CA"],
    [
      "req",
      "-x509",
      ...EC,
      "-keyout",
      key,
      "-out",
      cert,
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-addext",
      "basicConstraints=critical,CA:FALSE",
      "-CA",
      ca,
      "-CAkey",
      `${dir}/ca.key`,
    ],
  ];
  try {
    for (const args of steps) {
      if (!new Deno.Command("openssl", { args, stdout: "null", stderr: "null" }).outputSync().success) {
        return null;
      }
    }
  } catch {
    return null;
  }
  const pem = Deno.readTextFileSync(ca);
  return { cert, key, pem, client: Deno.createHttpClient({ caCerts: [pem] }) };
}
