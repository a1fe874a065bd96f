/**
 * `peftgraph serve`: the demo page (page.ts) and an artifact's files over HTTP on a local
 * address. Only the artifact's own files are served (plain names inside it, no dot-files, no way
 * out of it); everything else is a 404.
 */
import { createServer, type Server } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wgsl': 'text/plain; charset=utf-8',
  '.sha256': 'text/plain; charset=utf-8',
  '.png': 'image/png',
};

export interface Served {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/** Serves `page` (name -> text) at / and the artifact at /model/ on host:port (port 0: any free one). */
export function servePage(
  artifactDir: string,
  page: Map<string, string>,
  host = '127.0.0.1',
  port = 0,
): Promise<Served> {
  const root = resolve(artifactDir);
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const name = path === '/' ? 'index.html' : path.slice(1);
    const send = (code: number, body: string | Uint8Array, type = 'text/plain; charset=utf-8') => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'GET only');
    if (page.has(name)) return send(200, page.get(name)!, TYPES[extname(name)]);
    if (!name.startsWith('model/')) return send(404, `${path}: not found`);
    const file = resolve(root, name.slice('model/'.length));
    if (!file.startsWith(root + sep) || /(^|\/)\./.test(name)) return send(404, `${path}: not found`);
    try {
      if (!(await stat(file)).isFile()) return send(404, `${path}: not a file`);
      send(200, await readFile(file), TYPES[extname(file)] ?? 'application/octet-stream');
    } catch {
      send(404, `${path}: not found`);
    }
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      const a = server.address();
      const url = `http://${host}:${typeof a === 'object' && a ? a.port : port}/`;
      ok({ server, url, close: () => new Promise((done) => server.close(() => done())) });
    });
  });
}
