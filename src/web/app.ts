/// <reference lib="dom" />
/**
 * The demo page's script (page.ts writes the HTML): loads the artifact beside the page
 * (./model/) on the page's WebGPU, then answers questions about a chosen image (a VQA model) or
 * captions it (a captioning model). Preprocessing is the runtime's own (tokenizer, image
 * processor), as in node. `window.peftgraph` exposes the same calls for scripts and tests.
 */
import { acquireDevice, loadModel, type Answer, type BundledModel } from '../runtime/browser.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

export interface Ready {
  /** Milliseconds from navigation start until the model was ready (device, files, kernels, weights). */
  loadMs: number;
  adapter: string;
  task: 'vqa' | 'caption';
}

let image: Uint8Array | null = null;
let firstAnswerMs: number | undefined;

const ready: Promise<{ model: BundledModel; info: Ready }> = (async () => {
  const gpu = await acquireDevice();
  const model = await loadModel(gpu, new URL('model/', location.href).href);
  const info: Ready = {
    loadMs: performance.now(),
    adapter:
      gpu.info.description || [gpu.info.vendor, gpu.info.architecture, gpu.info.device].filter(Boolean).join(' '),
    task: model.task.kind,
  };
  return { model, info };
})();

/** Times one call; the first answer also records its time since navigation start. */
async function timed<T>(f: () => Promise<T>): Promise<{ result: T; ms: number; sinceLoadMs: number }> {
  const t = performance.now();
  const result = await f();
  const end = performance.now();
  firstAnswerMs ??= end;
  return { result, ms: end - t, sinceLoadMs: firstAnswerMs };
}

async function ask(bytes: Uint8Array, question: string, top = 5) {
  const { model } = await ready;
  return timed<Answer[]>(() => model.predict(bytes, question, { top }));
}

async function caption(bytes: Uint8Array) {
  const { model } = await ready;
  return timed(() => model.caption(bytes));
}

/** `p` as it is, marked handled: a failed load is shown on the page, not reported again as unhandled. */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

const fromBase64 = (b64: string) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));

Object.assign(globalThis, {
  peftgraph: {
    ready: handled(ready.then((r) => r.info)),
    /** The BundledModel itself, for scripts (bench/browser.ts times its parts). */
    model: handled(ready.then((r) => r.model)),
    ask: (b64: string, question: string, top?: number) => ask(fromBase64(b64), question, top),
    caption: (b64: string) => caption(fromBase64(b64)),
  },
});

function show(text: string, error = false): void {
  const s = $('status');
  s.textContent = text;
  s.className = error ? 'error' : '';
}

async function run(): Promise<void> {
  if (!image) return show('choose an image first', true);
  const { info } = await ready;
  $<HTMLButtonElement>('go').disabled = true;
  show('running…');
  try {
    const list = $('answers');
    list.replaceChildren();
    if (info.task === 'vqa') {
      const question = $<HTMLInputElement>('question').value;
      const { result, ms } = await ask(image, question);
      for (const a of result) {
        const li = document.createElement('li');
        li.textContent = `${a.answer} — ${a.score.toFixed(3)}`;
        list.append(li);
      }
      show(`answered in ${ms.toFixed(0)} ms on ${info.adapter}`);
    } else {
      const { result, ms } = await caption(image);
      const li = document.createElement('li');
      li.textContent = result.text;
      list.append(li);
      show(`captioned in ${ms.toFixed(0)} ms on ${info.adapter}`);
    }
  } catch (e) {
    show((e as Error).message, true);
  } finally {
    $<HTMLButtonElement>('go').disabled = false;
  }
}

$<HTMLInputElement>('image').addEventListener('change', async (ev) => {
  const file = (ev.target as HTMLInputElement).files?.[0];
  if (!file) return;
  image = new Uint8Array(await file.arrayBuffer());
  const preview = $<HTMLImageElement>('preview');
  if (preview.src.startsWith('blob:')) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(file);
});
$('form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  void run();
});

ready.then(
  ({ info }) => {
    if (info.task === 'caption') {
      $('question-row').hidden = true;
      $('go').textContent = 'Caption';
    }
    $<HTMLButtonElement>('go').disabled = false;
    show(`model ready in ${info.loadMs.toFixed(0)} ms on ${info.adapter}`);
  },
  (e: Error) => show(e.message, true),
);
