// The certificates a throwaway control plane needs, as envtest makes them: a CA (ECDSA P-256),
// a serving certificate for localhost and 127.0.0.1, a service-account key pair and an admin
// client certificate (CN=admin, O=system:masters).
import 'reflect-metadata'; // @peculiar/x509's dependency injection needs the Reflect metadata API
import { webcrypto } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 24 * 60 * 60 * 1000;

export interface PemPair {
  cert: string;
  key: string;
}

export interface ControlPlaneCerts {
  ca: PemPair;
  serving: PemPair;
  admin: PemPair;
  /** Service-account signing key (private) and its public key. */
  serviceAccount: { key: string; pub: string };
}

async function keyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function privatePem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function publicPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('spki', key);
  return x509.PemConverter.encode(der, 'PUBLIC KEY');
}

function serial(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1');
}

export async function generateControlPlaneCerts(): Promise<ControlPlaneCerts> {
  const now = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + 7 * DAY);
  const caKeys = await keyPair();
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=virtfleet-test-ca',
    notBefore: now,
    notAfter,
    keys: caKeys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'],
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });

  const leaf = async (subject: string, usage: string, altNames: x509.JsonGeneralNames = []): Promise<PemPair> => {
    const keys = await keyPair();
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([usage]),
    ];
    if (altNames.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(altNames));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject,
      issuer: caCert.subject,
      notBefore: now,
      notAfter,
      signingKey: caKeys.privateKey as never,
      publicKey: keys.publicKey as never,
      signingAlgorithm: ALG,
      extensions,
    });
    return { cert: cert.toString('pem'), key: await privatePem(keys.privateKey) };
  };

  const saKeys = await keyPair();
  return {
    ca: { cert: caCert.toString('pem'), key: await privatePem(caKeys.privateKey) },
    serving: await leaf('CN=kube-apiserver', x509.ExtendedKeyUsage.serverAuth, [
      { type: 'dns', value: 'localhost' },
      { type: 'ip', value: '127.0.0.1' },
    ]),
    admin: await leaf('CN=admin, O=system:masters', x509.ExtendedKeyUsage.clientAuth),
    serviceAccount: { key: await privatePem(saKeys.privateKey), pub: await publicPem(saKeys.publicKey) },
  };
}
