// The Argo CD health checks of resource_customizations/<group>/<Kind>/ and their cases, and a
// runner for them on Lua 5.1 (the `lua5.1` interpreter): the object is handed to the script as
// the Lua table `obj`, as Argo CD binds it, and the script runs with only the libraries Argo CD
// opens when open libs are off (base, table, package and a reduced os; no string or math, and
// no string methods) or, with openLibs, with every standard library.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const CUSTOMIZATIONS = join(dirname(fileURLToPath(import.meta.url)), 'resource_customizations');

export interface HealthStatus {
  status: string;
  message: string;
}

export interface HealthCheck {
  group: string;
  kind: string;
  dir: string;
  script: string;
}

export interface HealthCase {
  /** `<group>/<Kind>/<inputPath>`, as Argo CD's own health test names a case. */
  name: string;
  check: HealthCheck;
  inputPath: string;
  want: HealthStatus;
}

/** Every `<group>/<Kind>/health.lua` under root, sorted by group and kind. */
export function healthChecks(root = CUSTOMIZATIONS): HealthCheck[] {
  const checks: HealthCheck[] = [];
  for (const group of readdirSync(root).sort()) {
    for (const kind of readdirSync(join(root, group)).sort()) {
      const dir = join(root, group, kind);
      const file = join(dir, 'health.lua');
      if (existsSync(file)) checks.push({ group, kind, dir, script: readFileSync(file, 'utf8') });
    }
  }
  return checks;
}

/** The cases of each check's health_test.yaml (`tests: [{healthStatus, inputPath}]`). */
export function healthCases(root = CUSTOMIZATIONS): HealthCase[] {
  return healthChecks(root)
    .flatMap((check) => {
      const file = parse(readFileSync(join(check.dir, 'health_test.yaml'), 'utf8')) as { tests?: { inputPath: string; healthStatus: { status: string; message?: string } }[] };
      return (file.tests ?? []).map((t) => ({
        name: `${check.group}/${check.kind}/${t.inputPath}`,
        check,
        inputPath: join(check.dir, t.inputPath),
        want: { status: t.healthStatus.status, message: t.healthStatus.message ?? '' },
      }));
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * A Lua string literal for any string: bytes other than printable ASCII as decimal escapes of
 * exactly three digits (Lua reads up to three, so `\\34` before a digit would take it along).
 */
function luaString(s: string): string {
  let out = '"';
  for (const byte of Buffer.from(s, 'utf8')) {
    out += byte < 0x20 || byte >= 0x7f || byte === 0x22 || byte === 0x5c ? `\\${String(byte).padStart(3, '0')}` : String.fromCharCode(byte);
  }
  return `${out}"`;
}

/** The value as a Lua expression: maps become tables, lists sequences, null nil. */
export function luaValue(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`cannot pass ${v} to Lua`);
    return String(v);
  }
  if (typeof v === 'string') return luaString(v);
  if (Array.isArray(v)) return `{${v.map(luaValue).join(', ')}}`;
  if (typeof v === 'object') {
    return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `[${luaString(k)}] = ${luaValue(x)}`).join(', ')}}`;
  }
  throw new Error(`cannot pass a ${typeof v} to Lua`);
}

// What gopher-lua's base library holds (Argo CD opens it, and table, package and os).
const BASE = ['assert', 'collectgarbage', 'dofile', 'error', 'getfenv', 'getmetatable', 'ipairs', 'load', 'loadfile', 'loadstring', 'module', 'newproxy', 'next', 'pairs', 'pcall', 'print', 'rawequal', 'rawget', 'rawset', 'require', 'select', 'setfenv', 'setmetatable', 'tonumber', 'tostring', 'type', 'unpack', 'xpcall', '_VERSION'];

function driver(script: string, obj: unknown, openLibs: boolean): string {
  const env = openLibs
    ? 'local env = {}\nfor k, v in pairs(_G) do env[k] = v end\n'
    : [
        'local env = {}',
        `for _, k in ipairs(${luaValue(BASE)}) do env[k] = _G[k] end`,
        'env.table = table',
        'env.package = package',
        'env.os = { clock = os.clock, date = os.date, difftime = os.difftime, time = os.time }',
        // Without the string library gopher-lua has no string metatable: ("x"):len() fails.
        'debug.getmetatable("").__index = nil',
        '',
      ].join('\n');
  return [
    'local write, exit, stderr = io.write, os.exit, io.stderr',
    env,
    'env._G = env',
    `env.obj = ${luaValue(obj)}`,
    `local chunk, err = loadstring(${luaString(script)}, "=health.lua")`,
    'if not chunk then stderr:write(err) exit(3) end',
    'setfenv(chunk, env)',
    'local ok, r = pcall(chunk)',
    'if not ok then stderr:write(tostring(r)) exit(4) end',
    'if type(r) ~= "table" then stderr:write("expect table output from Lua script, not " .. type(r)) exit(5) end',
    'if (r.status ~= nil and type(r.status) ~= "string") or (r.message ~= nil and type(r.message) ~= "string") then stderr:write("status and message must be strings") exit(5) end',
    'write(r.status or "", "\\n", r.message or "")',
    '',
  ].join('\n');
}

const VALID = new Set(['Healthy', 'Progressing', 'Degraded', 'Suspended', 'Missing', 'Unknown']);

/** Runs a health check on Lua 5.1; throws with the interpreter's error when the script fails. */
export function runLua51(script: string, obj: unknown, options: { openLibs?: boolean; lua?: string } = {}): HealthStatus {
  const lua = options.lua ?? process.env.LUA51 ?? 'lua5.1';
  let out: string;
  try {
    out = execFileSync(lua, ['-'], { input: driver(script, obj, options.openLibs ?? false), encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: 10_000 });
  } catch (err) {
    const e = err as { code?: string; stderr?: string; message: string };
    if (e.code === 'ENOENT') throw new Error(`${lua} not found: install Lua 5.1 (apt-get install lua5.1) or set LUA51`);
    throw new Error(e.stderr || e.message);
  }
  const nl = out.indexOf('\n');
  const result = { status: out.slice(0, nl), message: out.slice(nl + 1) };
  // What Argo CD reports for a status it does not know.
  return VALID.has(result.status) ? result : { status: 'Unknown', message: 'Lua returned an invalid health status' };
}

/** Reads a case's input as Argo CD's health test does (one YAML document). */
export function readInput(path: string): unknown {
  return parse(readFileSync(path, 'utf8'));
}
