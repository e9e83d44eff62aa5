/**
 * The copy of a render that this browser keeps (saved-render.ts) while the render runs: the whole
 * video's state after the newest step every rank finished (cut in the checkpoint worker), written
 * one save at a time; removed once
 * the video is done or the user cancels. Steps that finish while a save is still writing are
 * folded into the next save (only the newest is written, and only it is cut out of the ranks'
 * checkpoints): at a real model's size the whole video's state is hundreds of MB, and a save per
 * step would cost more than the step. A storage error is reported and the render
 * goes on (it just cannot be resumed from that step). Also the way back: a saved render, checked
 * against the model and settings of this start, as the point a render resumes from.
 */
import type { CheckpointKeeper, KeeperChannel } from './checkpoint-keeper.js';
import { buildRenderTask, latentValuesPerFrame, type ModelFacts, type RenderSettings } from './render-spec.js';
import { discardUnfinishedRender, modelIdentity, SAVED_RENDER_SCHEMA, saveUnfinishedRender, type SavedRender } from './saved-render.js';
import type { ExportCodec } from '../media/index.js';

/** Where a render resumes: after `step`, from the checkpoints `keeper` holds (in the checkpoint worker). */
export interface ResumePoint {
  readonly keeper: CheckpointKeeper;
  readonly step: number;
}

/** Where the copy lives: this browser's IndexedDB (saved-render.ts); tests pass their own. */
export interface RenderStorage {
  save(r: SavedRender): Promise<void>;
  discard(): Promise<void>;
}
const BROWSER_STORAGE: RenderStorage = { save: saveUnfinishedRender, discard: discardUnfinishedRender };

export interface PersistenceEvents {
  /** The newest step saved (undefined: nothing saved any more). */
  readonly saved: (step: number | undefined) => void;
  readonly problem: (problem: string) => void;
}

export class RenderPersistence {
  /** What the saved copy names; null while nothing is to be saved. */
  private saveAs: { settings: RenderSettings; model: string } | null = null;
  private savedStep = 0;
  /** The newest state not yet written: its step and how to cut it (only when it is written). */
  private pending: { step: number; wholeState: () => Promise<Blob> } | null = null;
  private writeQueued = false;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly packageUrl: string,
    private readonly events: PersistenceEvents,
    private readonly storage: RenderStorage = BROWSER_STORAGE,
  ) {}

  /** From now on, save this render's progress (after `fromStep`: a resumed render's saved step). */
  begin(settings: RenderSettings, facts: ModelFacts, fromStep: number): void {
    this.saveAs = { settings, model: modelIdentity(facts.manifest) };
    this.savedStep = fromStep;
  }

  /** Saves the whole video's state after `step` if it is newer than the saved one (`wholeState` runs when it is written). */
  save(step: number, wholeState: () => Promise<Blob>): void {
    if (!this.saveAs || step <= this.savedStep) return;
    this.savedStep = step;
    this.pending = { step, wholeState };
    if (this.writeQueued) return; // the queued write takes this newer state
    this.writeQueued = true;
    this.queue = this.queue.then(() => this.writePending());
  }

  private async writePending(): Promise<void> {
    this.writeQueued = false;
    const p = this.pending;
    const as = this.saveAs;
    this.pending = null;
    if (!p || !as) return;
    try {
      const record: SavedRender = { schema: SAVED_RENDER_SCHEMA, savedAt: Date.now(), packageUrl: this.packageUrl, model: as.model, settings: as.settings, step: p.step, state: await p.wholeState() };
      await this.storage.save(record);
      this.events.saved(p.step);
    } catch (e) {
      this.noteProblem(e);
    }
  }

  /** Nothing is left to resume (the file exists, or the user stopped): remove the saved copy. */
  discard(): void {
    this.saveAs = null;
    this.pending = null;
    this.queue = this.queue.then(() => this.storage.discard()).then(() => this.events.saved(undefined), (e: unknown) => this.noteProblem(e));
  }

  /** Where a saved render resumes: its state, checked against the model and settings of this start. */
  async resumePoint(saved: SavedRender, facts: ModelFacts, settings: RenderSettings, codec: ExportCodec, keepers: KeeperChannel): Promise<ResumePoint> {
    const model = modelIdentity(facts.manifest);
    if (saved.model !== model) throw new Error(`the unfinished render was made with ${saved.model}, this dashboard loads ${model}: open it with that model, or discard the render`);
    const task = buildRenderTask(0, this.packageUrl, facts, settings, codec, 1);
    const keeper = keepers.open(task.job, task.job.partition.ranges, latentValuesPerFrame(facts));
    try {
      await keeper.add(0, saved.step, new Uint8Array(await saved.state.arrayBuffer()));
    } catch (e) {
      keeper.close();
      throw new Error(`the unfinished render cannot be resumed (${e instanceof Error ? e.message : String(e)}): discard it`);
    }
    return { keeper, step: saved.step };
  }

  private noteProblem(e: unknown): void {
    this.events.problem(`saving the render in this browser: ${e instanceof Error ? e.message : String(e)}`);
  }
}
