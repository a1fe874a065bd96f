/**
 * `peftgraph serve`'s server and `--out`: only the files the artifact's plan names are served
 * or copied (no other file of the directory, no dot-file, no symlink out of it, no path out of
 * it), requests must name the address served, and bad requests are answered, never a crash.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactSchema } from '../../src/runtime/artifact.ts';
import { writePage } from '../../src/web/page.ts';
import { artifactFiles } from '../../src/web/servable.ts';
import { servePage, type Served } from '../../src/web/serve.ts';
import { cli } from '../helpers/cli.ts';

/** One request with the headers given (Host included), as a browser or a script would send it. */
function get(url: string, o: { method?: string; host?: string; path?: string } = {}) {
  const u = new URL(url);
  return new Promise<{ status: number; body: string; length?: string }>((ok, fail) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        method: o.method ?? 'GET',
        path: o.path ?? u.pathname,
        headers: { host: o.host ?? u.host },
      },
      (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => ok({ status: res.statusCode ?? 0, body, length: res.headers['content-length'] }));
      },
    );
    req.on('error', fail);
    req.end();
  });
}

const files = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();

describe('serve', () => {
  const work = mkdtempSync(join(tmpdir(), 'peftgraph-serve-'));
  const model = join(work, 'model');
  let served: Served;
  let meta: ReturnType<typeof ArtifactSchema.parse>;

  beforeAll(async () => {
    const c = cli('compile', 'examples/mnist-vqa.spec.ts', '--batch', '1', '--out', model);
    expect(c.status, c.stderr).toBe(0);
    meta = ArtifactSchema.parse(JSON.parse(readFileSync(join(model, 'plan.json'), 'utf8')));
    writeFileSync(join(model, '.secret'), 'no');
    writeFileSync(join(work, 'outside.txt'), 'no');
    served = await servePage(new Map([['index.html', '<!doctype html>page']]), { artifactDir: model, meta });
  }, 120_000);
  afterAll(async () => {
    await served?.close();
  });

  it("serves the page and the plan's files, each with its length", async () => {
    expect((await get(served.url)).body).toBe('<!doctype html>page');
    const plan = await get(`${served.url}model/plan.json`);
    expect(plan.status).toBe(200);
    expect(plan.body).toBe(readFileSync(join(model, 'plan.json'), 'utf8'));
    expect(Number(plan.length)).toBe(plan.body.length);
    const kernel = meta.plans[0].plan.kernels[0].file;
    expect((await get(`${served.url}model/${kernel}`)).status).toBe(200);
    expect((await get(`${served.url}model/plan.json`, { method: 'HEAD' })).body).toBe('');
  });

  it('serves nothing else: other files, dot-files, paths out, symlinks out', async () => {
    for (const path of [
      '/model/model.ts',
      '/model/.secret',
      '/model/../outside.txt',
      '/model/%2e%2e/outside.txt',
      '/outside.txt',
    ])
      expect((await get(served.url, { path })).status, path).toBe(404);
    // A file the plan names, made a symlink out of the artifact.
    const digest = join(model, 'plan.sha256');
    const kept = readFileSync(digest);
    rmSync(digest);
    symlinkSync(join(work, 'outside.txt'), digest);
    try {
      expect((await get(`${served.url}model/plan.sha256`)).status).toBe(404);
      await expect(writePage(model, meta, join(work, 'site-bad'))).rejects.toThrow(
        /plan\.sha256: not a regular file inside the artifact/,
      );
    } finally {
      rmSync(digest);
      writeFileSync(digest, kept);
    }
  });

  it('answers bad requests and other hosts without crashing', async () => {
    expect((await get(served.url, { path: '/%E0%A4%A' })).status).toBe(400);
    expect((await get(served.url, { method: 'POST' })).status).toBe(405);
    // A page elsewhere reaching this port by DNS rebinding names its own host.
    expect((await get(served.url, { host: 'evil.example:80' })).status).toBe(403);
    expect((await get(served.url)).status).toBe(200);
  });

  it('--out copies only what the page loads', async () => {
    const site = join(work, 'site');
    await writePage(model, meta, site, 'a title');
    expect(files(join(site, 'model'))).toEqual([...artifactFiles(meta)].sort());
    expect(readFileSync(join(site, 'index.html'), 'utf8')).toContain('<title>a title · peftgraph</title>');
    expect(readFileSync(join(site, 'app.js'), 'utf8')).toContain('navigator.gpu');
  });
});
