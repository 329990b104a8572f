// Checksum files as image publishers write them: GNU coreutils lines (`hex  file`, `hex *file`,
// and `\`-prefixed lines whose name is escaped), BSD/--tag lines (`SHA256 (file) = hex`), `#`
// comments (Fedora's `# file: N bytes`), CRLF line ends, and an OpenPGP clear-signed wrapper
// (Fedora's *-CHECKSUM). Pure: the text in, entries or a ChecksumFileError out. The signature
// itself is not verified here; only its wrapper is removed.
import { SourceError, type SourceErrorReason } from './errors.ts';

export type ChecksumAlgorithm = 'sha256' | 'sha512' | 'sha1' | 'md5';

export interface ChecksumEntry {
  algorithm: ChecksumAlgorithm;
  /** Lower-case hex digest. */
  hex: string;
  file: string;
}

/** A malformed file (with the 1-based line) or a file that does not list what was asked for. */
export class ChecksumFileError extends SourceError {
  readonly line: number | undefined;

  constructor(reason: Extract<SourceErrorReason, 'Malformed' | 'NotFound'>, message: string, line?: number) {
    super(reason, message);
    this.name = 'ChecksumFileError';
    this.line = line;
  }
}

/** GNU lines carry no algorithm name: the digest's length tells it. */
const ALGORITHM_BY_HEX_LENGTH: ReadonlyMap<number, ChecksumAlgorithm> = new Map([
  [32, 'md5'],
  [40, 'sha1'],
  [64, 'sha256'],
  [128, 'sha512'],
]);

/** BSD tags as sha256sum --tag, BSD's sha256 and OpenSSL (1.x and 3.x) print them. */
const ALGORITHM_BY_TAG: ReadonlyMap<string, ChecksumAlgorithm> = new Map([
  ['MD5', 'md5'],
  ['SHA1', 'sha1'],
  ['SHA256', 'sha256'],
  ['SHA2-256', 'sha256'],
  ['SHA512', 'sha512'],
  ['SHA2-512', 'sha512'],
]);

const HEX_LENGTH: Record<ChecksumAlgorithm, number> = { md5: 32, sha1: 40, sha256: 64, sha512: 128 };

const GNU_LINE = /^([0-9A-Fa-f]+) [ *]?(.+)$/s;
const BSD_LINE = /^([A-Z0-9-]+) ?\((.*)\) ?= ?([0-9A-Fa-f]+)$/s;

const PGP_BEGIN = '-----BEGIN PGP SIGNED MESSAGE-----';
const PGP_SIGNATURE = '-----BEGIN PGP SIGNATURE-----';

interface NumberedLine {
  number: number;
  text: string;
}

/** The lines that carry checksums, numbered as in the original file, with any PGP wrapper removed. */
function contentLines(content: string): NumberedLine[] {
  const lines = content.split('\n').map((text, i) => ({ number: i + 1, text: text.endsWith('\r') ? text.slice(0, -1) : text }));
  const begin = lines.findIndex((l) => l.text.trim() !== '');
  if (begin < 0 || lines[begin]?.text.trim() !== PGP_BEGIN) return lines;

  // Armor headers (Hash: SHA256) run up to the first blank line; the signed text follows it.
  let i = begin + 1;
  while (i < lines.length && lines[i]?.text.trim() !== '') {
    const header = lines[i] as NumberedLine;
    if (!/^[A-Za-z][A-Za-z0-9-]*: /.test(header.text)) {
      throw new ChecksumFileError('Malformed', `line ${header.number}: expected a PGP armor header (Hash: …) or a blank line, got ${quote(header.text)}`, header.number);
    }
    i++;
  }
  if (i >= lines.length) throw new ChecksumFileError('Malformed', 'the PGP signed message has no blank line after its headers', lines.length);
  const body: NumberedLine[] = [];
  for (i++; i < lines.length; i++) {
    const line = lines[i] as NumberedLine;
    if (line.text === PGP_SIGNATURE) return body;
    // Clear-signing escapes every line starting with a dash as "- " (RFC 4880 §7.1).
    body.push(line.text.startsWith('- ') ? { number: line.number, text: line.text.slice(2) } : line);
  }
  throw new ChecksumFileError('Malformed', `the PGP signed message ends without a ${PGP_SIGNATURE} line`, lines.length);
}

/** GNU coreutils escapes `\` and newlines in names and marks such lines with a leading `\`. */
function unescapeGnuName(name: string, lineNumber: number): string {
  return name.replace(/\\(.?)/gs, (_m, c: string) => {
    if (c === '\\') return '\\';
    if (c === 'n') return '\n';
    if (c === 'r') return '\r';
    throw new ChecksumFileError('Malformed', `line ${lineNumber}: bad escape \\${c} in the file name`, lineNumber);
  });
}

function entryOf(line: NumberedLine): ChecksumEntry | undefined {
  const trimmed = line.text.trimStart();
  if (trimmed === '' || trimmed.startsWith('#')) return undefined;
  const escaped = trimmed.startsWith('\\');
  const text = escaped ? trimmed.slice(1) : trimmed;
  const name = (raw: string): string => {
    const file = escaped ? unescapeGnuName(raw, line.number) : raw;
    if (file === '') throw new ChecksumFileError('Malformed', `line ${line.number}: no file name`, line.number);
    return file;
  };

  const bsd = BSD_LINE.exec(text);
  if (bsd) {
    const [, tag = '', file = '', hex = ''] = bsd;
    const algorithm = ALGORITHM_BY_TAG.get(tag);
    if (!algorithm) throw new ChecksumFileError('Malformed', `line ${line.number}: unknown checksum algorithm ${quote(tag)}`, line.number);
    if (hex.length !== HEX_LENGTH[algorithm]) {
      throw new ChecksumFileError('Malformed', `line ${line.number}: a ${algorithm} checksum has ${HEX_LENGTH[algorithm]} hex digits, this one ${hex.length}`, line.number);
    }
    return { algorithm, hex: hex.toLowerCase(), file: name(file) };
  }

  const gnu = GNU_LINE.exec(text);
  if (gnu) {
    const [, hex = '', file = ''] = gnu;
    const algorithm = ALGORITHM_BY_HEX_LENGTH.get(hex.length);
    if (!algorithm) {
      throw new ChecksumFileError('Malformed', `line ${line.number}: ${hex.length} hex digits is no md5, sha1, sha256 or sha512 checksum`, line.number);
    }
    return { algorithm, hex: hex.toLowerCase(), file: name(file) };
  }
  throw new ChecksumFileError('Malformed', `line ${line.number}: not a checksum line (expected "<hex>  <file>" or "SHA256 (<file>) = <hex>"): ${quote(text)}`, line.number);
}

export function parseChecksumFile(content: string): ChecksumEntry[] {
  const entries: ChecksumEntry[] = [];
  for (const line of contentLines(content)) {
    const entry = entryOf(line);
    if (entry) entries.push(entry);
  }
  return entries;
}

/** The file name an image URL names: the last segment of its path, URL-decoded. */
export function imageFileName(imageURL: string): string {
  let path: string;
  try {
    path = new URL(imageURL).pathname;
  } catch {
    throw new ChecksumFileError('Malformed', `${quote(imageURL)} is not a URL`);
  }
  const last = path.slice(path.lastIndexOf('/') + 1);
  let name: string;
  try {
    name = decodeURIComponent(last);
  } catch {
    throw new ChecksumFileError('Malformed', `the file name in ${quote(imageURL)} is not valid percent-encoding`);
  }
  if (name === '') throw new ChecksumFileError('Malformed', `${quote(imageURL)} names no file (its path ends with /)`);
  return name;
}

/** The algorithms a GoldenImage checksum may use, in order of preference. */
const SCHEMA_ALGORITHMS: readonly ChecksumAlgorithm[] = ['sha256', 'sha512'];

function entriesNaming(entries: ChecksumEntry[], fileName: string): ChecksumEntry[] {
  const withoutDotSlash = (f: string): string => (f.startsWith('./') ? f.slice(2) : f);
  const exact = entries.filter((e) => withoutDotSlash(e.file) === fileName);
  if (exact.length > 0) return exact;
  // A checksum file one directory up lists "dir/file": accept it when only one directory does.
  const byBase = entries.filter((e) => e.file.slice(e.file.lastIndexOf('/') + 1) === fileName);
  const files = new Set(byBase.map((e) => e.file));
  if (files.size > 1) {
    throw new ChecksumFileError('NotFound', `the checksum file lists ${[...files].map(quote).join(' and ')}, not ${quote(fileName)} alone: ambiguous`);
  }
  return byBase;
}

/**
 * The checksum the file lists for `fileName`, in the GoldenImage's format (`sha256:<hex>`, or
 * `sha512:<hex>` when the file lists no sha256 for it).
 */
export function checksumFor(fileContent: string, fileName: string): string {
  const entries = entriesNaming(parseChecksumFile(fileContent), fileName);
  if (entries.length === 0) throw new ChecksumFileError('NotFound', `the checksum file lists no checksum for ${quote(fileName)}`);
  for (const algorithm of SCHEMA_ALGORITHMS) {
    const hexes = new Set(entries.filter((e) => e.algorithm === algorithm).map((e) => e.hex));
    if (hexes.size > 1) throw new ChecksumFileError('Malformed', `the checksum file lists ${hexes.size} different ${algorithm} checksums for ${quote(fileName)}`);
    const [hex] = hexes;
    if (hex !== undefined) return `${algorithm}:${hex}`;
  }
  const found = [...new Set(entries.map((e) => e.algorithm))].join(', ');
  throw new ChecksumFileError('NotFound', `the checksum file lists only ${found} for ${quote(fileName)}; an image checksum must be sha256 or sha512`);
}

function quote(s: string): string {
  return JSON.stringify(s.length > 120 ? `${s.slice(0, 120)}…` : s);
}
