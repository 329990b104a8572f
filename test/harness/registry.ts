// A real OCI registry on 127.0.0.1 for tests: Debian's docker-registry (distribution 2.8) with
// TLS from a throwaway CA and, optionally, htpasswd (bcrypt) auth; and real containerDisk images
// (a qcow2 made by qemu-img under /disk/, owned by uid 107) pushed into it with crane.
// Binaries come from hack/build-tools.sh (cached outside the repo); qemu-img and htpasswd from
// Debian's qemu-utils and apache2-utils. Nothing listens beyond loopback, every command has a
// timeout, and the registry never outlives the process that started it (process group + watchdog).
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { buildTools } from '../../controller/local/assets.ts';
import { generateControlPlaneCerts } from '../../controller/local/certs.ts';
import { httpsGet } from '../../controller/local/https-get.ts';
import { freePort } from '../../controller/local/ports.ts';
import { startProcess, startWatchdog, stopProcess } from '../../controller/local/processes.ts';

const run = promisify(execFile);
const COMMAND_TIMEOUT_MS = 60_000;

/** What a client needs to reach a test registry; plain data, so it can travel through env. */
export interface RegistryAccess {
  /** `127.0.0.1:PORT`, the registry part of an image reference. */
  host: string;
  /** The CA that signed the registry's serving certificate. */
  caPEM: string;
  username: string;
  password: string;
}

export interface TestRegistry extends RegistryAccess {
  /** The content of a kubernetes.io/dockerconfigjson Secret's `.dockerconfigjson` for this registry. */
  dockerConfigJSON(): string;
  /** Kills the registry and removes its directory (storage, certificates, logs). */
  stop(): Promise<void>;
}

export interface RegistryOptions {
  /** htpasswd auth; without it the registry takes any request (and ignores credentials). */
  auth?: boolean;
  startTimeoutMs?: number;
}

/** `.dockerconfigjson` content: `auths.<host>.auth` is base64 of `user:password`, as docker writes it. */
export function dockerConfigJSON(access: Pick<RegistryAccess, 'host' | 'username' | 'password'>): string {
  const auth = Buffer.from(`${access.username}:${access.password}`).toString('base64');
  return JSON.stringify({ auths: { [access.host]: { username: access.username, password: access.password, auth } } });
}

/** distribution's config.yml for a registry bound to `addr` with its files under `dir`. */
export function registryConfig(dir: string, addr: string, htpasswdPath?: string): string {
  return stringify({
    version: 0.1,
    log: { level: 'info', formatter: 'text' },
    storage: { filesystem: { rootdirectory: join(dir, 'data') }, delete: { enabled: true } },
    http: {
      addr,
      // Signs upload state; without one distribution makes up its own and warns.
      secret: randomBytes(16).toString('hex'),
      tls: { certificate: join(dir, 'registry.crt'), key: join(dir, 'registry.key') },
    },
    ...(htpasswdPath ? { auth: { htpasswd: { realm: 'virtfleet-test', path: htpasswdPath } } } : {}),
  });
}

let tools: Promise<{ registry: string; crane: string }> | undefined;

/** docker-registry and crane from hack/build-tools.sh, built (or found in its cache) once per process. */
function registryTools(): Promise<{ registry: string; crane: string }> {
  tools ??= buildTools(['docker-registry', 'crane']).then(([registry, crane]) => ({ registry: registry!, crane: crane! }));
  tools.catch(() => (tools = undefined)); // a failed build is retried by the next caller
  return tools;
}

async function htpasswdEntry(username: string, password: string): Promise<string> {
  // -i reads the password from stdin, so it never shows in the process list.
  return new Promise((resolve, reject) => {
    const child = spawn('htpasswd', ['-niB', username], { stdio: ['pipe', 'pipe', 'pipe'], timeout: COMMAND_TIMEOUT_MS });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', (e) => reject(new Error(`htpasswd: ${e.message} (Debian's apache2-utils has it)`)));
    child.on('close', (code) => (code === 0 ? resolve(`${out.trim()}\n`) : reject(new Error(`htpasswd exited ${code}: ${err.trim()}`))));
    child.stdin.end(password);
  });
}

export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  const { registry: registryBinary } = await registryTools();
  const dir = await mkdtemp(join(tmpdir(), 'virtfleet-registry-'));
  let stopProcesses = async (): Promise<void> => undefined;
  try {
    const certs = await generateControlPlaneCerts(); // its serving certificate is for 127.0.0.1 and localhost
    const username = 'virtfleet';
    const password = randomBytes(12).toString('hex');
    const htpasswdPath = options.auth ? join(dir, 'htpasswd') : undefined;
    await Promise.all([
      writeFile(join(dir, 'ca.crt'), certs.ca.cert),
      writeFile(join(dir, 'registry.crt'), certs.serving.cert),
      writeFile(join(dir, 'registry.key'), certs.serving.key, { mode: 0o600 }),
      htpasswdPath ? htpasswdEntry(username, password).then((entry) => writeFile(htpasswdPath, entry, { mode: 0o600 })) : undefined,
    ]);
    const host = `127.0.0.1:${await freePort()}`;
    const configPath = join(dir, 'config.yml');
    await writeFile(configPath, registryConfig(dir, host, htpasswdPath));
    const proc = startProcess('docker-registry', registryBinary, ['serve', configPath], join(dir, 'registry.log'));
    const dismissWatchdog = startWatchdog([proc.child.pid!], dir);
    stopProcesses = async () => {
      await stopProcess(proc, 5_000);
      dismissWatchdog();
    };

    // Ready when /v2/ answers: 200 without auth, 401 with it.
    const expected = options.auth ? 401 : 200;
    const timeoutMs = options.startTimeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    for (;;) {
      if (proc.child.exitCode !== null) throw new Error(`docker-registry exited with code ${proc.child.exitCode}; see ${dir}/registry.log`);
      try {
        const res = await httpsGet(`https://${host}/v2/`, { ca: certs.ca.cert });
        if (res.status === expected) break;
        last = `${res.status} ${res.body.slice(0, 200)}`;
      } catch (err) {
        last = (err as Error).message;
      }
      if (Date.now() > deadline) throw new Error(`docker-registry not ready after ${timeoutMs} ms: ${last}`);
      await new Promise((r) => setTimeout(r, 100));
    }

    const access: RegistryAccess = { host, caPEM: certs.ca.cert, username, password };
    return {
      ...access,
      dockerConfigJSON: () => dockerConfigJSON(access),
      stop: async () => {
        await stopProcesses();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await stopProcesses();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Runs crane against the registry with a private DOCKER_CONFIG (never the user's ~/.docker) and
 * the registry's CA as Go's only trusted root (SSL_CERT_FILE). Returns its stdout, trimmed.
 */
async function crane(registry: RegistryAccess, args: string[], workDir: string): Promise<string> {
  const { crane: craneBinary } = await registryTools();
  const dockerConfig = join(workDir, 'docker');
  await mkdir(dockerConfig, { recursive: true });
  await writeFile(join(dockerConfig, 'config.json'), dockerConfigJSON(registry), { mode: 0o600 });
  await writeFile(join(workDir, 'ca.crt'), registry.caPEM);
  const env = { ...process.env, DOCKER_CONFIG: dockerConfig, SSL_CERT_FILE: join(workDir, 'ca.crt') };
  try {
    const { stdout } = await run(craneBinary, args, { env, cwd: workDir, timeout: COMMAND_TIMEOUT_MS, maxBuffer: 1 << 20 });
    return stdout.trim();
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`crane ${args.join(' ')}: ${e.stderr?.trim() || e.message}`);
  }
}

/** A temporary directory for one crane call, removed afterwards whatever happens. */
async function inWorkDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'virtfleet-registry-work-'));
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const DIGEST = /sha256:[0-9a-f]{64}/;

function digestIn(output: string, what: string): string {
  const digest = DIGEST.exec(output)?.[0];
  if (!digest) throw new Error(`${what} printed no digest: ${output.slice(0, 200)}`);
  return digest;
}

export interface ContainerDiskOptions {
  /** Written into the disk, so images with different seeds have different digests (and equal seeds equal ones). */
  seed: string | number;
  /** An OCI image manifest instead of a Docker v2 one. */
  oci?: boolean;
}

/** Makes the layer of a containerDisk: `disk/disk.qcow2` (64 MiB virtual, the seed in its first bytes), uid/gid 107. */
async function containerDiskLayer(dir: string, seed: string | number): Promise<string> {
  const raw = join(dir, 'disk.raw');
  const file = await open(raw, 'w');
  try {
    await file.write(Buffer.from(`virtfleet test disk ${seed}\n`));
    await file.truncate(64 * 1024 * 1024); // sparse: qemu-img stores only the written cluster
  } finally {
    await file.close();
  }
  const diskDir = join(dir, 'layer', 'disk');
  await mkdir(diskDir, { recursive: true, mode: 0o755 });
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, join(diskDir, 'disk.qcow2')], { timeout: COMMAND_TIMEOUT_MS }).catch((err: Error & { code?: string }) => {
    throw new Error(err.code === 'ENOENT' ? "qemu-img not found (Debian's qemu-utils has it)" : `qemu-img convert: ${err.message}`);
  });
  const layer = join(dir, 'layer.tar');
  // Fixed owner, order and times, so the same seed always gives the same layer.
  await run('tar', ['--owner=107', '--group=107', '--numeric-owner', '--mtime=@0', '--sort=name', '--mode=u=rwX,go=rX', '-cf', layer, '-C', join(dir, 'layer'), 'disk'], { timeout: COMMAND_TIMEOUT_MS });
  return layer;
}

// distribution's filesystem storage loses a race when two clients upload the same blob at once:
// one of them gets DIGEST_INVALID or BLOB_UNKNOWN for its manifest. Pushing again then finds the
// blob in place.
const UPLOAD_RACE = /DIGEST_INVALID|BLOB_UNKNOWN|BLOB_UPLOAD_(UNKNOWN|INVALID)/;

async function retryUploadRace(push: () => Promise<string>, attempts = 4, firstDelayMs = 100): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await push();
    } catch (err) {
      if (attempt >= attempts || !UPLOAD_RACE.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, firstDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random())));
    }
  }
}

/** Builds a real containerDisk image and pushes it as `<host>/<repository>:<tag>`; returns its manifest digest. */
export async function pushContainerDisk(registry: RegistryAccess, repository: string, tag: string, options: ContainerDiskOptions): Promise<string> {
  return inWorkDir(async (dir) => {
    const layer = await containerDiskLayer(dir, options.seed);
    const ref = `${registry.host}/${repository}:${tag}`;
    const append = () => crane(registry, ['append', '-f', layer, '-t', ref, ...(options.oci ? ['--oci-empty-base'] : [])], dir);
    const pushed = digestIn(await retryUploadRace(append), 'crane append');
    // What the tag resolves to now, as a client sees it; another push to the same tag in
    // between would make it someone else's image, so say so rather than return it.
    const reported = digestIn(await crane(registry, ['digest', ref], dir), 'crane digest');
    if (reported !== pushed) throw new Error(`${ref} resolves to ${reported}, not to the pushed ${pushed}: was it pushed concurrently?`);
    return reported;
  });
}

/** Points `tag` at the manifest `digest` of `repository` (moving the tag if it exists). */
export async function tagImage(registry: RegistryAccess, repository: string, digest: string, tag: string): Promise<void> {
  await inWorkDir((dir) => crane(registry, ['tag', `${registry.host}/${repository}@${digest}`, tag], dir));
}

/** Deletes the manifest `digest` of `repository`; the registry drops the tags that point at it too. */
export async function deleteImage(registry: RegistryAccess, repository: string, digest: string): Promise<void> {
  await inWorkDir((dir) => crane(registry, ['delete', `${registry.host}/${repository}@${digest}`], dir));
}

// The registry shared by one test run: global-setup.ts starts it and pushes the fixture images,
// and passes what tests need through the environment (jest's workers inherit it).
export const SHARED_REGISTRY_ENV = 'VIRTFLEET_TEST_REGISTRY';
export const SHARED_DIGESTS_ENV = 'VIRTFLEET_TEST_REGISTRY_DIGESTS';
/** The repository of the fixture images, and their tags: one per version, `42` = v3. */
export const FIXTURE_REPOSITORY = 'containerdisks/fedora';
export const FIXTURE_VERSIONS = ['v1', 'v2', 'v3'] as const;
export const FIXTURE_TAG = '42';
export type FixtureDigests = Record<(typeof FIXTURE_VERSIONS)[number], string>;

/** Pushes the fixture images (a different disk per version) and points FIXTURE_TAG at the last. */
export async function pushFixtureImages(registry: RegistryAccess): Promise<FixtureDigests> {
  const digests = await Promise.all(FIXTURE_VERSIONS.map((v) => pushContainerDisk(registry, FIXTURE_REPOSITORY, v, { seed: `fedora-${v}` })));
  const byVersion = Object.fromEntries(FIXTURE_VERSIONS.map((v, i) => [v, digests[i]!])) as FixtureDigests;
  await tagImage(registry, FIXTURE_REPOSITORY, byVersion.v3, FIXTURE_TAG);
  return byVersion;
}

/**
 * Starts a registry with auth and TLS, pushes the fixture images into it and publishes both in
 * this process's environment (which child processes and jest's workers inherit), for
 * sharedRegistry() and sharedDigests(). The caller stops it.
 */
export async function startSharedRegistry(): Promise<TestRegistry> {
  const registry = await startRegistry({ auth: true });
  try {
    Object.assign(process.env, sharedRegistryEnv(registry, await pushFixtureImages(registry)));
    return registry;
  } catch (err) {
    await registry.stop();
    throw err;
  }
}

/** Env entries that describe a registry and its fixture digests to another process. */
export function sharedRegistryEnv(registry: RegistryAccess, digests: FixtureDigests): Record<string, string> {
  const access: RegistryAccess = { host: registry.host, caPEM: registry.caPEM, username: registry.username, password: registry.password };
  return { [SHARED_REGISTRY_ENV]: JSON.stringify(access), [SHARED_DIGESTS_ENV]: JSON.stringify(digests) };
}

function fromEnv<T>(name: string, env: NodeJS.ProcessEnv): T {
  const value = env[name];
  if (!value) {
    throw new Error(`${name} is not set: the fixture images live in the registry that test/harness/global-setup.ts starts for the integration tests (run them with --selectProjects integration), or that a benchmark starts with startSharedRegistry()`);
  }
  return JSON.parse(value) as T;
}

/** The run's shared registry, from the environment. */
export function sharedRegistry(env: NodeJS.ProcessEnv = process.env): RegistryAccess {
  return fromEnv<RegistryAccess>(SHARED_REGISTRY_ENV, env);
}

/** The digests of the fixture images in the run's shared registry, from the environment. */
export function sharedDigests(env: NodeJS.ProcessEnv = process.env): FixtureDigests {
  return fromEnv<FixtureDigests>(SHARED_DIGESTS_ENV, env);
}
