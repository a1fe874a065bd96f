/**
 * A GPUDevice from an adapter, as peftgraph uses one: requested with the adapter's full limits
 * (the compiler plans buffers and bindings against them) and shader-f16 where the adapter has it,
 * with its errors and loss recorded. Shared by Dawn in node (device.ts) and a browser's
 * navigator.gpu (browser.ts); no node built-ins.
 */
export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  backend: string;
  isSoftware: boolean;
}

export interface Gpu {
  readonly device: GPUDevice;
  readonly adapter: GPUAdapter;
  readonly info: AdapterSummary;
  readonly limits: Readonly<Record<string, number>>;
  readonly features: ReadonlySet<string>;
  readonly hasF16: boolean;
  /** Validation errors Dawn reported outside an error scope, oldest first. */
  readonly uncapturedErrors: string[];
  /** Set when the device was lost, with Dawn's reason. */
  lostReason(): string | undefined;
  /** Destroys the device and drops Dawn's instance so node can exit. */
  destroy(): void;
}

const SOFTWARE = /llvmpipe|lavapipe|swiftshader|software|warp/i;

function limitsOf(adapter: GPUAdapter): Record<string, number> {
  const out: Record<string, number> = {};
  // GPUSupportedLimits exposes its fields as prototype getters, so walk with for..in.
  for (const k in adapter.limits) {
    const v = (adapter.limits as unknown as Record<string, unknown>)[k];
    if (typeof v === 'number') out[k] = v;
  }
  return out;
}

/** The device of `adapter`; `backend` says how it was found (for reports). */
export async function openDevice(adapter: GPUAdapter, o: { f16?: boolean; backend: string }): Promise<Gpu> {
  const limits = limitsOf(adapter);
  const wantF16 = (o.f16 ?? true) && adapter.features.has('shader-f16');
  const device = await adapter.requestDevice({
    requiredLimits: limits,
    requiredFeatures: wantF16 ? ['shader-f16'] : [],
  });
  const errors: string[] = [];
  device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
    errors.push(ev.error.message);
  };
  let lost: string | undefined;
  let destroyed = false;
  void device.lost.then((info) => {
    if (!destroyed) lost = `${info.reason}: ${info.message}`;
  });

  const i = adapter.info;
  const info: AdapterSummary = {
    vendor: i.vendor,
    architecture: i.architecture,
    device: i.device,
    description: i.description,
    backend: o.backend,
    isSoftware:
      (i as { isFallbackAdapter?: boolean }).isFallbackAdapter === true ||
      SOFTWARE.test(`${i.architecture} ${i.device} ${i.description}`),
  };
  return {
    device,
    adapter,
    info,
    limits,
    features: new Set(device.features as unknown as Iterable<string>),
    hasF16: wantF16,
    uncapturedErrors: errors,
    lostReason: () => lost,
    destroy() {
      if (destroyed) return;
      destroyed = true;
      device.destroy();
    },
  };
}
