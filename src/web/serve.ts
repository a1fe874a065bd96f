/**
 * `peftgraph serve`: the demo page (page.ts) and an artifact's files over HTTP on a local
 * address. Only the files the artifact's plan names are served (plan.json, its digest, the
 * kernels and the bundle: `artifactFiles`), each a regular file whose real path lies inside the
 * artifact directory (no symlink out of it); anything else is a 404. Requests must name the
 * address served (a page elsewhere cannot reach it by DNS rebinding).
 */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { extname, resolve, sep } from 'node:path';
import type { ArtifactJson } from '../runtime/artifact.ts';
import { artifactFiles } from './servable.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wgsl': 'text/plain; charset=utf-8',
  '.sha256': 'text/plain; charset=utf-8',
};

export interface Served {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/**
 * The real path of artifact file `name` under `root` when it is a regular file inside it
 * (symlinks resolved), else undefined.
 */
export async function artifactFile(root: string, name: string): Promise<string | undefined> {
  try {
    const real = await realpath(resolve(root, name));
    const base = await realpath(root);
    if (!real.startsWith(base + sep) || !(await stat(real)).isFile()) return undefined;
    return real;
  } catch {
    return undefined;
  }
}

/**
 * Serves `page` (name -> text) at / and, with `meta`, that artifact's files (in `artifactDir`) at
 * /model/, on host:port (port 0: any free one).
 */
export function servePage(
  page: Map<string, string>,
  o: { artifactDir?: string; meta?: ArtifactJson; host?: string; port?: number } = {},
): Promise<Served> {
  const { host = '127.0.0.1', port = 0 } = o;
  const root = resolve(o.artifactDir ?? '.');
  const files = new Set(o.meta ? artifactFiles(o.meta) : []);
  const hosts = new Set<string>();
  const server = createServer(async (req, res) => {
    const send = (code: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    try {
      if (!hosts.has(req.headers.host ?? '')) return send(403, 'this server answers only its own address');
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'GET only');
      let path: string;
      try {
        path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      } catch {
        return send(400, 'a malformed path');
      }
      const name = path === '/' ? 'index.html' : path.slice(1);
      if (page.has(name)) return send(200, page.get(name)!, TYPES[extname(name)]);
      const inner = name.startsWith('model/') ? name.slice('model/'.length) : '';
      const file = files.has(inner) ? await artifactFile(root, inner) : undefined;
      if (!file) return send(404, `${path}: not found`);
      const { size } = await stat(file);
      res.writeHead(200, {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'content-length': size,
        'cache-control': 'no-store',
      });
      if (req.method === 'HEAD') return res.end();
      // Streamed: bundled weights can be larger than one buffer.
      createReadStream(file)
        .on('error', () => res.destroy())
        .pipe(res);
    } catch (e) {
      if (!res.headersSent) send(500, (e as Error).message);
      else res.destroy();
    }
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      const a = server.address();
      const bound = typeof a === 'object' && a ? a.port : port;
      const name = host.includes(':') ? `[${host}]` : host;
      hosts.add(`${name}:${bound}`);
      if (host === '127.0.0.1' || host === '::1') hosts.add(`localhost:${bound}`);
      ok({
        server,
        url: `http://${name}:${bound}/`,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}
