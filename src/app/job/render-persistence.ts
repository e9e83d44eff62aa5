/**
 * The copy of a render that this browser keeps (saved-render.ts) while the render runs: the whole
 * video's state after the newest step every rank finished, written in order, one save at a time;
 * removed once the video is done or the user cancels. A storage error is reported and the render
 * goes on (it just cannot be resumed from that step). Also the way back: a saved render, checked
 * against the model and settings of this start, as the point a render resumes from.
 */
import { CheckpointStore } from './checkpoint-store.js';
import { buildRenderTask, jobParamsOf, latentValuesPerFrame, type ModelFacts, type RenderSettings } from './render-spec.js';
import { discardUnfinishedRender, modelIdentity, SAVED_RENDER_SCHEMA, saveUnfinishedRender, type SavedRender } from './saved-render.js';
import type { ExportCodec } from '../media/index.js';

/** Where a render resumes: after `step`, from the checkpoints in `store`. */
export interface ResumePoint {
  readonly store: CheckpointStore;
  readonly step: number;
}

export interface PersistenceEvents {
  /** The newest step saved (undefined: nothing saved any more). */
  readonly saved: (step: number | undefined) => void;
  readonly problem: (problem: string) => void;
}

export class RenderPersistence {
  /** What the saved copy names; null while nothing is to be saved. */
  private saveAs: { settings: RenderSettings; model: string } | null = null;
  private savedStep = 0;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly packageUrl: string,
    private readonly events: PersistenceEvents,
  ) {}

  /** From now on, save this render's progress (after `fromStep`: a resumed render's saved step). */
  begin(settings: RenderSettings, facts: ModelFacts, fromStep: number): void {
    this.saveAs = { settings, model: modelIdentity(facts.manifest) };
    this.savedStep = fromStep;
  }

  /** Saves the whole video's state after `step` if it is newer than the saved one. */
  save(step: number, wholeState: () => Uint8Array): void {
    const as = this.saveAs;
    if (!as || step <= this.savedStep) return;
    this.savedStep = step;
    const record: SavedRender = { schema: SAVED_RENDER_SCHEMA, savedAt: Date.now(), packageUrl: this.packageUrl, model: as.model, settings: as.settings, step, state: new Blob([wholeState() as BlobPart]) };
    this.queue = this.queue.then(() => saveUnfinishedRender(record)).then(() => this.events.saved(step), (e: unknown) => this.noteProblem(e));
  }

  /** Nothing is left to resume (the file exists, or the user stopped): remove the saved copy. */
  discard(): void {
    this.saveAs = null;
    this.queue = this.queue.then(() => discardUnfinishedRender()).then(() => this.events.saved(undefined), (e: unknown) => this.noteProblem(e));
  }

  /** Where a saved render resumes: its state, checked against the model and settings of this start. */
  async resumePoint(saved: SavedRender, facts: ModelFacts, settings: RenderSettings, codec: ExportCodec): Promise<ResumePoint> {
    const model = modelIdentity(facts.manifest);
    if (saved.model !== model) throw new Error(`the unfinished render was made with ${saved.model}, this dashboard loads ${model}: open it with that model, or discard the render`);
    const task = buildRenderTask(0, this.packageUrl, facts, settings, codec, 1);
    const store = new CheckpointStore(jobParamsOf(task), task.job.partition.ranges, latentValuesPerFrame(facts));
    try {
      store.add(0, saved.step, new Uint8Array(await saved.state.arrayBuffer()));
    } catch (e) {
      throw new Error(`the unfinished render cannot be resumed (${e instanceof Error ? e.message : String(e)}): discard it`);
    }
    return { store, step: saved.step };
  }

  private noteProblem(e: unknown): void {
    this.events.problem(`saving the render in this browser: ${e instanceof Error ? e.message : String(e)}`);
  }
}
