import { WakeTimer } from './wake-timer.js';

/**
 * When the runner claims: one claim loop at a time; a wake-up during a loop asks for one more
 * after it (never a second loop in parallel); a wake-up for a later moment waits on a timer.
 */
export class Poller {
  private polling: Promise<void> | null = null;
  private again = false;
  private readonly timer = new WakeTimer(() => this.wake());

  constructor(
    private readonly poll: () => Promise<void>,
    /** False once the runner stops (or before it starts): wake-ups are ignored. */
    private readonly active: () => boolean,
  ) {}

  get busy(): boolean {
    return this.polling !== null;
  }

  /** Claims soon. */
  wake(): void {
    if (!this.active()) return;
    if (this.polling) {
      this.again = true;
      return;
    }
    this.polling = this.poll().finally(() => {
      this.polling = null;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  /** Claims at `at` (epoch ms; at once when past). */
  wakeAt(at: number): void {
    if (!this.active()) return;
    if (at <= Date.now()) this.wake();
    else this.timer.wakeAt(at);
  }

  /** Stops the timer and waits for the claim loop in flight. */
  async stop(): Promise<void> {
    this.timer.stop();
    this.again = false;
    await this.polling;
  }
}
