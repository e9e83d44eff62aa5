/**
 * A worker tab's part in getting ready: as soon as the tab has joined the room (control link to
 * the host open), load the model and measure the UNet speed (EngineReadiness), and tell the host
 * every phase of it in a `member-report` control message (member-engine-report.ts). Load progress
 * is sent at most every LOAD_REPORT_MS; phase changes at once. A host that comes back (its page
 * reloaded, the same room) hears the current state again as soon as the link reopens.
 */
import { memberReport } from '../services/member-engine-report.js';
import type { WorkerService } from '../services/worker-service.js';
import { toMemberEngine, type EngineReadiness } from './engine-readiness.js';

const LOAD_REPORT_MS = 500;

export class WorkerReadiness {
  private lastPhase = '';
  private lastSentMs = 0;
  private started = false;
  /** WorkerState.hostLinks when the last report went: a newer link has not heard it. */
  private reportedOnLink = 0;
  private readonly onService = () => this.onServiceChange();
  private readonly onReadiness = () => this.report();

  constructor(
    private readonly service: WorkerService,
    private readonly readiness: EngineReadiness,
    private readonly packageUrl: string,
  ) {
    service.addEventListener('change', this.onService);
    readiness.addEventListener('change', this.onReadiness);
    this.onServiceChange();
  }

  dispose(): void {
    this.service.removeEventListener('change', this.onService);
    this.readiness.removeEventListener('change', this.onReadiness);
  }

  private onServiceChange(): void {
    const s = this.service.state;
    if (s.phase !== 'ready') return;
    if (!this.started) {
      this.started = true;
      void this.readiness.prepare(this.packageUrl);
    } else if (s.hostLinks !== this.reportedOnLink) this.report(true);
  }

  private report(force = false): void {
    const m = toMemberEngine(this.readiness.state);
    if (!m) return;
    const now = performance.now();
    if (!force && m.phase === this.lastPhase && m.phase === 'loading' && now - this.lastSentMs < LOAD_REPORT_MS) return;
    if (!this.service.sendToHost(memberReport(m))) return;
    this.lastPhase = m.phase;
    this.lastSentMs = now;
    this.reportedOnLink = this.service.state.hostLinks;
  }
}
