/** Re-renders a lit host whenever a service (an EventTarget emitting `change`) changes. */
import type { ReactiveController, ReactiveControllerHost } from 'lit';

export class ServiceController<S extends EventTarget> implements ReactiveController {
  private readonly onChange = () => this.host.requestUpdate();

  constructor(
    private readonly host: ReactiveControllerHost,
    readonly service: S,
  ) {
    host.addController(this);
  }

  hostConnected(): void {
    this.service.addEventListener('change', this.onChange);
  }

  hostDisconnected(): void {
    this.service.removeEventListener('change', this.onChange);
  }
}
