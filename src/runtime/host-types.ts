/**
 * What the runtime needs of the environment it runs in, so that the inference path itself uses
 * no node built-ins: files, image decoding and hashing. Node's answers are host.ts; a browser's
 * are host.browser.ts, which the package's "browser" field and the demo page's bundle put in
 * host.ts's place (src/web/bundle.ts). Everything else of the runtime is the same code in both.
 */
import type { Pixels } from '../data/pixels.ts';

/** An artifact's files by their names inside it (plan.json, kernels/x.wgsl, tokenizer/tokenizer.json). */
export interface ArtifactSource {
  /** The directory or URL the artifact is at, as errors name it. */
  readonly name: string;
  /** A file's bytes, at most `maxBytes`; a missing or odd file is an error naming it (`what` says what it is). */
  read(file: string, what: string, maxBytes: number): Promise<Uint8Array>;
  /**
   * The same file in chunks (each valid only during the call), so a large one is hashed without
   * being held: bundled weights the caller replaces. Without it, `read` is used.
   */
  stream?(file: string, what: string, maxBytes: number, each: (chunk: Uint8Array) => void): Promise<void>;
}

/** Incremental sha256 (hex digest). */
export interface Hasher {
  update(data: string | Uint8Array): Hasher;
  digest(): string;
}

export interface Host {
  /** The files of the artifact at `where`: a directory path in node, a URL (fetched) in a browser. */
  source(where: string | URL): ArtifactSource;
  /** A file's bytes by path (node) or URL (a browser): weights or an image named by a string. */
  readFile(where: string, what: string, maxBytes: number): Promise<Uint8Array>;
  /** An image file's bytes as 8-bit RGB, as Pillow's Image.open(..).convert('RGB'); `name` names it in errors. */
  decodeImage(bytes: Uint8Array, name: string): Promise<Pixels>;
  sha256(): Hasher;
  /**
   * A JSON file read at once: how HF-layout directories and answer lists are read in node. A
   * browser has no directories and refuses, naming the way it has (an artifact's bundle).
   */
  readJson(path: string, what: string): unknown;
  /** Whether a file or directory exists at `path` (node only, as readJson). */
  exists(path: string): boolean;
  /** `dir`/`name` as this host joins them. */
  join(dir: string, name: string): string;
}
