/**
 * The serving certificate, read from `tls.crt`/`tls.key` in a directory (a mounted cert-manager Secret) and
 * re-read whenever their bytes change. Polling the bytes, rather than watching files, also catches the
 * atomic symlink swap the kubelet uses to update Secret volumes.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { createSecureContext } from "node:tls";
import type { Logger } from "pino";

export interface KeyPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

const sameBytes = (a: KeyPair, b: KeyPair): boolean => a.cert.equals(b.cert) && a.key.equals(b.key);

/**
 * Polls something on disk until a usable value is loaded, then keeps polling for changes; `load` (one poll)
 * calls `accept` with each new, usable value.
 */
abstract class PolledValue<T> {
  protected current: T | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private polling = false;
  private readonly listeners: ((value: T) => void)[] = [];

  constructor(
    private readonly pollMs: number,
    private readonly what: string,
  ) {}

  /** Called with every new, usable value (not with the first one `start` resolves with). */
  onChange(listener: (value: T) => void): void {
    this.listeners.push(listener);
  }

  /** Polls until a usable value is loaded, then keeps polling for changes. Resolves with the first one. */
  async start(): Promise<T> {
    this.stopped = false;
    await this.poll();
    while (this.current === undefined) {
      await new Promise((resolve) => setTimeout(resolve, this.pollMs));
      if (this.stopped) throw new Error(`stopped before the ${this.what} was loaded`);
      await this.poll();
    }
    this.timer = setInterval(() => void this.poll(), this.pollMs);
    this.timer.unref();
    return this.current;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  protected abstract load(): Promise<void>;

  /** Takes `value` as the current one; returns whether it is the first. */
  protected accept(value: T): boolean {
    const first = this.current === undefined;
    this.current = value;
    if (!first) for (const listener of this.listeners) listener(value);
    return first;
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      await this.load();
    } finally {
      this.polling = false;
    }
  }
}

export class CertificateWatcher extends PolledValue<KeyPair> {
  /** The last unusable pair: reported once, and not re-checked at every poll while it stays on disk. */
  private rejected: KeyPair | undefined;

  constructor(
    private readonly dir: string,
    pollMs: number,
    private readonly logger: Logger,
  ) {
    super(pollMs, "serving certificate");
  }

  get keyPair(): KeyPair | undefined {
    return this.current;
  }

  protected async load(): Promise<void> {
    let pair: KeyPair;
    try {
      const [cert, key] = await Promise.all([
        readFile(join(this.dir, "tls.crt")),
        readFile(join(this.dir, "tls.key")),
      ]);
      pair = { cert, key };
    } catch (err) {
      if (this.current === undefined) this.logger.debug({ err, dir: this.dir }, "no serving certificate yet");
      else
        this.logger.warn(
          { err, dir: this.dir },
          "cannot read the serving certificate; keeping the loaded one",
        );
      return;
    }
    if (this.current !== undefined && sameBytes(pair, this.current)) return;
    if (this.rejected !== undefined && sameBytes(pair, this.rejected)) return;
    try {
      // A rotation writes two files: until both are new, the pair does not match and is not used.
      createSecureContext(pair);
    } catch (err) {
      this.rejected = pair;
      this.logger.warn({ err, dir: this.dir }, "serving certificate and key are not usable yet");
      return;
    }
    this.rejected = undefined;
    const first = this.accept(pair);
    this.logger.info(
      { dir: this.dir },
      first ? "serving certificate loaded" : "serving certificate reloaded",
    );
  }
}

/**
 * The CA bundle client certificates are verified against (`--client-ca-file`, e.g. a mounted ConfigMap),
 * re-read whenever its bytes change, like the serving certificate.
 */
export class ClientCaWatcher extends PolledValue<Buffer> {
  constructor(
    private readonly file: string,
    pollMs: number,
    private readonly logger: Logger,
  ) {
    super(pollMs, "client CA bundle");
  }

  get bundle(): Buffer | undefined {
    return this.current;
  }

  protected async load(): Promise<void> {
    let bundle: Buffer;
    try {
      bundle = await readFile(this.file);
      if (this.current !== undefined && bundle.equals(this.current)) return;
      createSecureContext({ ca: bundle });
      if (!bundle.includes("-----BEGIN CERTIFICATE-----")) throw new Error("no PEM certificate in the file");
    } catch (err) {
      this.logger.warn(
        { err, file: this.file },
        "client CA bundle not usable; keeping the loaded one, if any",
      );
      return;
    }
    const first = this.accept(bundle);
    this.logger.info({ file: this.file }, first ? "client CA bundle loaded" : "client CA bundle reloaded");
  }
}
