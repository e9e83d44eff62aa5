/**
 * The main thread's handle on the engine worker (the same `Engine` interface as the engine inside
 * it, so callers do not care where it runs): implements `Engine` by posting
 * typed requests and matching answers by id; rebuilds worker errors from their data; serves the
 * worker's collective calls on the tab's real collective through `CollectiveBridge`.
 * No ONNX, no tensor maths here. Imports engine contracts only.
 */
import type { Collective } from '../collective.js';
import type { StepProgress } from '../denoise.js';
import { CollectiveBridge } from './collective-bridge.js';
import { EngineWorkerError, type CheckpointEvent, type Engine, type EngineEvent, type EngineRequests, type EngineRequestType, type EncodePromptsIn, type EncodePromptsOut, type LoadModelIn, type LoadModelOut, type MeasureSpeedIn, type MeasureSpeedOut, type PortLike, type RenderIn, type RenderOut, type WorkerToMain } from './protocol.js';

interface Pending {
  resolve(out: unknown): void;
  reject(e: Error): void;
}

export class EngineClient implements Engine {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private bridge: CollectiveBridge | null = null;
  private progressListener: ((p: StepProgress) => void) | null = null;
  private checkpointListener: ((c: CheckpointEvent) => void) | null = null;
  private readonly eventListeners = new Set<(e: EngineEvent) => void>();
  private readonly onMessage = (e: MessageEvent) => this.receive(e.data as WorkerToMain);
  private readonly onError = (e: Event) => this.failAll(`the engine worker crashed: ${(e as ErrorEvent).message ?? 'unknown error'}`);

  constructor(private readonly port: PortLike & { terminate?(): void; addEventListener(type: 'error', l: (e: Event) => void): void }) {
    port.addEventListener('message', this.onMessage);
    port.addEventListener('error', this.onError);
  }

  /** Load-progress and step-progress events as they arrive. */
  onEvent(listener: (e: EngineEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  loadModel(input: LoadModelIn): Promise<LoadModelOut> {
    return this.request('load-model', input);
  }

  measureSpeed(input: MeasureSpeedIn): Promise<MeasureSpeedOut> {
    return this.request('measure-speed', input);
  }

  encodePrompts(input: EncodePromptsIn): Promise<EncodePromptsOut> {
    return this.request('encode-prompts', input);
  }

  /** Renders one clip; with mode 'collective', `collective` (the tab's mesh) serves the exchanges. */
  /** `options.onCheckpoint` receives the clip's state after every step when `input.checkpoints` is set. */
  async render(input: RenderIn, onProgress?: (p: StepProgress) => void, collective?: Collective, options: { transferResults?: boolean; onCheckpoint?: (c: CheckpointEvent) => void } = {}): Promise<RenderOut> {
    if (input.mode === 'collective' && !collective) throw new EngineWorkerError('invalid-argument', "render: mode 'collective' needs the tab's collective");
    this.bridge = collective ? new CollectiveBridge(this.port, collective, options) : null;
    this.progressListener = onProgress ?? null;
    this.checkpointListener = options.onCheckpoint ?? null;
    try {
      return await this.request('render', input);
    } finally {
      this.bridge?.close();
      this.bridge = null;
      this.progressListener = null;
      this.checkpointListener = null;
    }
  }

  async cancel(reason: string): Promise<void> {
    await this.request('cancel', { reason });
  }

  dispose(): void {
    this.port.removeEventListener('message', this.onMessage);
    this.failAll('the engine was disposed');
    this.port.terminate?.();
  }

  private request<K extends EngineRequestType>(type: K, input: EngineRequests[K]['in']): Promise<EngineRequests[K]['out']> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (out: unknown) => void, reject });
      this.port.postMessage({ kind: 'request', id, type, in: input });
    });
  }

  private receive(m: WorkerToMain): void {
    switch (m.kind) {
      case 'result':
      case 'error': {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.kind === 'result') p.resolve(m.out);
        else p.reject(EngineWorkerError.from(m.error));
        return;
      }
      case 'event':
        if (m.event.type === 'progress') this.progressListener?.(m.event.progress);
        else if (m.event.type === 'checkpoint') this.checkpointListener?.(m.event);
        for (const l of this.eventListeners) l(m.event);
        return;
      case 'collective':
        if (this.bridge) this.bridge.serve(m.id, m.op);
        else this.port.postMessage({ kind: 'collective-error', id: m.id, error: { code: 'closed', message: 'no collective: this tab is not in a job' }, stats: { bytesSent: 0, bytesReceived: 0, waitMs: 0 } });
        return;
    }
  }

  private failAll(message: string): void {
    for (const p of this.pending.values()) p.reject(new EngineWorkerError('worker-crashed', message));
    this.pending.clear();
  }
}
