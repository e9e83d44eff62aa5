/**
 * The UNet weights shards (SegmentPlan.weights) for a sequence of session creations: each session
 * is given only the shards its graph points into (segment-plan.ts `graphShards`), each shard is
 * read right before the first session that needs it and let go once no later session in the
 * sequence needs it (a reference count over the creation order). A full-size package is GBs of
 * shards: held all at once next to what the sessions upload, a tab would keep the weights twice.
 *
 * Sessions are created one at a time, in the order given; nothing here runs them concurrently.
 */

import type { WeightShard } from '../model/segment-plan.js';
import { EngineError } from './errors.js';
import type { ExternalData } from './session-runner.js';

/** Reads a package file (path relative to the package directory). */
export type ModelFileReader = (path: string) => Promise<Uint8Array>;

export class WeightShards {
  /** Sessions that still need each shard (by location), this one included until it is created. */
  private readonly pending = new Map<string, number>();
  /** Shards read and still needed by a later session. */
  private readonly held = new Map<string, ExternalData>();
  private nextIndex = 0;

  /** `needs[k]`: the shards of the k-th session created through `create`. */
  constructor(
    private readonly needs: readonly (readonly WeightShard[])[],
    private readonly read: ModelFileReader,
  ) {
    for (const list of needs) for (const s of list) this.pending.set(s.location, (this.pending.get(s.location) ?? 0) + 1);
  }

  /** The shards held now (read, and needed by a session not created yet): locations. */
  get heldLocations(): string[] {
    return [...this.held.keys()];
  }

  /**
   * Creates the next session of the sequence with its shards (`create` gets them as ORT
   * externalData), then lets go of those no later session needs. On a failure every shard is let go.
   */
  async create<T>(create: (externalData: readonly ExternalData[]) => Promise<T>): Promise<T> {
    const k = this.nextIndex++;
    const list = this.needs[k];
    if (!list) throw new EngineError('invalid-argument', `WeightShards: session ${k} was not planned (${this.needs.length} sessions)`);
    try {
      const externalData: ExternalData[] = [];
      for (const s of list) {
        let shard = this.held.get(s.location);
        if (!shard) {
          shard = { path: s.location, data: await this.read(s.file) };
          this.held.set(s.location, shard);
        }
        externalData.push(shard);
      }
      const made = await create(externalData);
      for (const s of list) {
        const left = this.pending.get(s.location)! - 1;
        this.pending.set(s.location, left);
        if (left === 0) this.held.delete(s.location);
      }
      return made;
    } catch (e) {
      this.release();
      throw e;
    }
  }

  /** Lets go of every shard (after a failed creation, or when the remaining sessions will not be created). */
  release(): void {
    this.held.clear();
    this.nextIndex = this.needs.length;
  }
}
