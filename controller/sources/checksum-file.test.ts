import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ChecksumFileError, checksumFor, imageFileName, parseChecksumFile, type ChecksumAlgorithm, type ChecksumEntry } from './checksum-file.ts';

const SHA256_A = '6205ae0c524b4d1816dbd3573ce29b5c44ed26c9fbc874fbe48c41c89dd0bac2';
const SHA256_B = 'b8f31413336b9393ad5d8ef0282717b2ab19f007df2e9ed5196c13d8f9153c8b';

const UBUNTU_SHA256SUMS = [
  `${SHA256_B} *noble-server-cloudimg-amd64.img`,
  `${SHA256_A} *noble-server-cloudimg-arm64.img`,
  `${'0'.repeat(64)}  noble-server-cloudimg-amd64.manifest`,
  '',
].join('\n');

const FEDORA_CHECKSUM = [
  '-----BEGIN PGP SIGNED MESSAGE-----',
  'Hash: SHA256',
  '',
  '# Fedora-Cloud-Base-Generic-42-1.1.x86_64.qcow2: 491716608 bytes',
  `SHA256 (Fedora-Cloud-Base-Generic-42-1.1.x86_64.qcow2) = ${SHA256_A}`,
  '# Fedora-Cloud-Base-Generic-42-1.1.x86_64.raw.xz: 423104512 bytes',
  `SHA256 (Fedora-Cloud-Base-Generic-42-1.1.x86_64.raw.xz) = ${SHA256_B}`,
  '-----BEGIN PGP SIGNATURE-----',
  '',
  'iQIzBAEBCAAdFiEEbUDxk9Zz8pHKo1f0nnGhcWqzVYIFAmf9ZsEACgkQnnGhcWqz',
  '=abcd',
  '-----END PGP SIGNATURE-----',
  '',
].join('\r\n');

describe('examples', () => {
  it('reads an Ubuntu SHA256SUMS file (GNU binary-mode lines)', () => {
    expect(parseChecksumFile(UBUNTU_SHA256SUMS)).toEqual([
      { algorithm: 'sha256', hex: SHA256_B, file: 'noble-server-cloudimg-amd64.img' },
      { algorithm: 'sha256', hex: SHA256_A, file: 'noble-server-cloudimg-arm64.img' },
      { algorithm: 'sha256', hex: '0'.repeat(64), file: 'noble-server-cloudimg-amd64.manifest' },
    ]);
    expect(checksumFor(UBUNTU_SHA256SUMS, 'noble-server-cloudimg-arm64.img')).toBe(`sha256:${SHA256_A}`);
  });

  it('reads a Fedora CHECKSUM file (BSD lines, byte-count comments, PGP clear-signed, CRLF)', () => {
    expect(parseChecksumFile(FEDORA_CHECKSUM).map((e) => e.file)).toEqual([
      'Fedora-Cloud-Base-Generic-42-1.1.x86_64.qcow2',
      'Fedora-Cloud-Base-Generic-42-1.1.x86_64.raw.xz',
    ]);
    expect(checksumFor(FEDORA_CHECKSUM, 'Fedora-Cloud-Base-Generic-42-1.1.x86_64.raw.xz')).toBe(`sha256:${SHA256_B}`);
  });

  it('names the file of an image URL, URL-decoded', () => {
    expect(imageFileName('https://example.com/pub/images/Fedora%20Cloud%2B42.qcow2?sig=x#y')).toBe('Fedora Cloud+42.qcow2');
    expect(() => imageFileName('https://example.com/pub/')).toThrow(ChecksumFileError);
    expect(() => imageFileName('https://example.com/%zz')).toThrow(/percent-encoding/);
  });

  it('prefers sha256, falls back to sha512, refuses md5 and sha1 alone', () => {
    const sha512 = 'ab'.repeat(64);
    const both = `${sha512}  disk.img\nSHA256 (disk.img) = ${SHA256_A}\n`;
    expect(checksumFor(both, 'disk.img')).toBe(`sha256:${SHA256_A}`);
    expect(checksumFor(`${sha512.toUpperCase()}  disk.img\n`, 'disk.img')).toBe(`sha512:${sha512}`);
    expect(() => checksumFor(`${'c'.repeat(32)}  disk.img\n`, 'disk.img')).toThrow(/lists only md5 for "disk.img"/);
  });

  it('matches ./file and, when unambiguous, dir/file', () => {
    expect(checksumFor(`${SHA256_A}  ./disk.img\n`, 'disk.img')).toBe(`sha256:${SHA256_A}`);
    expect(checksumFor(`${SHA256_A}  amd64/disk.img\n`, 'disk.img')).toBe(`sha256:${SHA256_A}`);
    expect(() => checksumFor(`${SHA256_A}  amd64/disk.img\n${SHA256_B}  arm64/disk.img\n`, 'disk.img')).toThrow(/ambiguous/);
  });

  it('says when the file is not listed, and when it is listed twice differently', () => {
    const missing = () => checksumFor(UBUNTU_SHA256SUMS, 'other.img');
    expect(missing).toThrow('the checksum file lists no checksum for "other.img"');
    expect(missing).toThrow(expect.objectContaining({ reason: 'NotFound' }));
    expect(() => checksumFor(`${SHA256_A}  a\n${SHA256_B}  a\n`, 'a')).toThrow(/2 different sha256 checksums/);
  });

  it('says which line is malformed', () => {
    const bad = `# header\n${SHA256_A}  good.img\nthis is not a checksum\n`;
    let caught: unknown;
    try {
      parseChecksumFile(bad);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ChecksumFileError);
    expect(caught).toMatchObject({ reason: 'Malformed', line: 3 });
    expect((caught as Error).message).toMatch(/^line 3: not a checksum line/);
    expect(() => parseChecksumFile(`${'a'.repeat(63)}  x\n`)).toThrow(/line 1: 63 hex digits/);
    expect(() => parseChecksumFile('SHA256 (x) = abc\n')).toThrow(/line 1: a sha256 checksum has 64 hex digits, this one 3/);
    expect(() => parseChecksumFile(`BLAKE3 (x) = ${SHA256_A}\n`)).toThrow(/line 1: unknown checksum algorithm "BLAKE3"/);
    expect(() => parseChecksumFile(`-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n${SHA256_A}  x\n`)).toThrow(/ends without/);
  });

  it('unescapes GNU names marked with a backslash', () => {
    expect(parseChecksumFile(`\\${SHA256_A}  a\\\\b\\nc\n`)).toEqual([{ algorithm: 'sha256', hex: SHA256_A, file: 'a\\b\nc' }]);
  });
});

// Printers in each style, as the tools that write these files print them.
const HEX_LENGTH: Record<ChecksumAlgorithm, number> = { md5: 32, sha1: 40, sha256: 64, sha512: 128 };
const hexArb = (length: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length });
const BSD_TAG: Record<ChecksumAlgorithm, string> = { md5: 'MD5', sha1: 'SHA1', sha256: 'SHA256', sha512: 'SHA512' };

const gnuEscape = (name: string): { name: string; escaped: boolean } => {
  const escaped = /[\\\n]/.test(name);
  return { name: escaped ? name.replaceAll('\\', '\\\\').replaceAll('\n', '\\n') : name, escaped };
};

type Style = 'gnu-text' | 'gnu-binary' | 'bsd';

function printLine(entry: ChecksumEntry, style: Style, upper: boolean): string {
  const hex = upper ? entry.hex.toUpperCase() : entry.hex;
  const { name, escaped } = gnuEscape(entry.file);
  const prefix = escaped ? '\\' : '';
  if (style === 'bsd') return `${prefix}${BSD_TAG[entry.algorithm]} (${name}) = ${hex}`;
  return `${prefix}${hex}${style === 'gnu-text' ? '  ' : ' *'}${name}`;
}

const entryArb: fc.Arbitrary<ChecksumEntry> = fc
  .constantFrom<ChecksumAlgorithm>('md5', 'sha1', 'sha256', 'sha512')
  .chain((algorithm) =>
    fc.record({
      algorithm: fc.constant(algorithm),
      hex: hexArb(HEX_LENGTH[algorithm]),
      // Any name without a carriage return (a CR before LF is a line end); newlines and
      // backslashes go through GNU escaping.
      file: fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }).filter((f) => !f.includes('\r')),
    }),
  );

const lineArb = fc.record({
  entry: fc.option(entryArb, { nil: undefined }),
  comment: fc.string({ maxLength: 30 }).map((c) => `# ${c.replace(/[\r\n]/g, ' ')}`),
  style: fc.constantFrom<Style>('gnu-text', 'gnu-binary', 'bsd'),
  upper: fc.boolean(),
});

describe('properties', () => {
  it('printing entries in any style and parsing gives them back', () => {
    fc.assert(
      fc.property(fc.array(lineArb, { maxLength: 12 }), fc.boolean(), fc.boolean(), fc.boolean(), (lines, crlf, signed, dashEscapeAll) => {
        const printed = lines.map((l) => (l.entry ? printLine(l.entry, l.style, l.upper) : l.comment));
        const body = signed
          ? ['-----BEGIN PGP SIGNED MESSAGE-----', 'Hash: SHA256', '', ...printed.map((l) => (dashEscapeAll || l.startsWith('-') ? `- ${l}` : l)), '-----BEGIN PGP SIGNATURE-----', '', 'AAAA', '-----END PGP SIGNATURE-----']
          : printed;
        const text = body.join(crlf ? '\r\n' : '\n') + (crlf ? '\r\n' : '\n');
        const expected = lines.flatMap((l) => (l.entry ? [l.entry] : []));
        expect(parseChecksumFile(text)).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('checksumFor finds a listed sha256 entry among others', () => {
    fc.assert(
      fc.property(fc.array(entryArb, { maxLength: 8 }), hexArb(64), (others, hex) => {
        const target = 'the-image.qcow2';
        const entries = [...others.filter((e) => !e.file.endsWith(target)), { algorithm: 'sha256' as const, hex, file: target }];
        const text = entries.map((e) => printLine(e, 'gnu-text', false)).join('\n');
        expect(checksumFor(text, target)).toBe(`sha256:${hex}`);
      }),
    );
  });

  it('garbage never throws anything but a ChecksumFileError', () => {
    const garbage = fc.oneof(
      fc.string({ maxLength: 200, unit: 'binary' }),
      fc.array(fc.oneof(fc.constantFrom('-----BEGIN PGP SIGNED MESSAGE-----', '-----BEGIN PGP SIGNATURE-----', 'Hash: SHA256', '', '- ', '\\', '# c', `${SHA256_A}  f`, 'SHA256 (f) = ', '(', ')'), fc.string({ maxLength: 20 })), { maxLength: 10 }).map((ls) => ls.join('\n')),
    );
    fc.assert(
      fc.property(garbage, fc.string({ maxLength: 10 }), (text, name) => {
        for (const run of [() => parseChecksumFile(text), () => checksumFor(text, name)]) {
          try {
            run();
          } catch (e) {
            expect(e).toBeInstanceOf(ChecksumFileError);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
