import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import type { DataSource } from 'typeorm';
import {
  JOB_EVENT_METADATA,
  JOB_KIND_METADATA,
  JOBS_DATA_SOURCE,
  JOBS_RESOLVED_OPTIONS,
} from './jobs.constants.js';
import {
  JobsEvents,
  type EventEmitterLike,
  type OnJobEventMetadata,
} from './events/jobs.events.js';
import { messages } from './jobs.messages.js';
import { JobsRegistry } from './jobs.registry.js';
import type { JobKindMetadata } from './decorators/job-kind.decorator.js';
import { JobStore } from './storage/job.store.js';
import { prepareJobsSchema } from './storage/schema.js';
import type { ResolvedJobsOptions } from './interfaces/jobs-module-options.interface.js';
import { nextOccurrence, serializeSchedule } from './schedules/schedule.js';
import { ScheduleStore } from './schedules/schedule.store.js';

/** Finds `@JobKind()` methods at startup, registers them and records their kinds in the database. */
@Injectable()
export class JobsExplorer implements OnModuleInit {
  private readonly logger = new Logger('JobsModule');

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly registry: JobsRegistry,
    @Inject(JobStore) private readonly store: JobStore,
    private readonly events: JobsEvents,
    @Inject(JOBS_DATA_SOURCE) private readonly dataSource: DataSource,
    @Inject(JOBS_RESOLVED_OPTIONS) private readonly options: ResolvedJobsOptions,
  ) {}

  async onModuleInit(): Promise<void> {
    this.explore();
    await prepareJobsSchema(this.dataSource, this.options.schema);
    await this.store.upsertKinds(this.registry.names());
    await this.store.recordLimits(this.registry.all());
    if (this.options.runner) await this.store.confirmHandlers(this.registry.names(), Date.now());
    await this.syncSchedules();
  }

  private async syncSchedules(): Promise<void> {
    const now = Date.now();
    const kinds = this.registry.all();
    const declared = kinds
      .filter((kind) => kind.schedule !== null)
      .map((kind) => ({
        kind: kind.name,
        spec: serializeSchedule(kind.schedule!),
        interval: kind.schedule!.every ?? null,
        queue: kind.queue,
        priority: kind.priority,
        maxAttempts: kind.maxAttempts,
        firstRunAt: nextOccurrence(kind.schedule!, now),
      }));
    const undeclared = kinds.filter((kind) => kind.schedule === null).map((kind) => kind.name);
    await new ScheduleStore(this.dataSource, this.store).syncDeclared(declared, undeclared, now);
  }

  private explore(): void {
    for (const wrapper of this.discovery.getProviders()) {
      const { instance } = wrapper;
      if (!instance || typeof instance !== 'object') continue;
      const prototype = Object.getPrototypeOf(instance);
      if (!prototype) continue;
      if (isEventEmitter(instance)) this.events.useEmitter(instance);
      for (const method of this.scanner.getAllMethodNames(prototype)) {
        const kind = this.reflector.get<JobKindMetadata | undefined>(
          JOB_KIND_METADATA,
          prototype[method],
        );
        const listener = this.reflector.get<OnJobEventMetadata | undefined>(
          JOB_EVENT_METADATA,
          prototype[method],
        );
        if (!kind && !listener) continue;
        const className = instance.constructor?.name ?? String(wrapper.name);
        if (!wrapper.isDependencyTreeStatic()) {
          this.logger.warn(messages.requestScoped(className, method));
          continue;
        }
        const call = (prototype[method] as (...args: unknown[]) => unknown).bind(instance);
        const source = `${className}.${method}`;
        if (kind) this.registry.register(kind.name, kind.options, call, source);
        if (listener) this.events.addListener(listener, call, source);
      }
    }
  }
}

/** @nestjs/event-emitter's EventEmitter2, recognised by its API without importing it (it is optional). */
function isEventEmitter(instance: object): instance is EventEmitterLike {
  const candidate = instance as Record<string, unknown>;
  return ['emit', 'emitAsync', 'onAny', 'listenersAny'].every(
    (name) => typeof candidate[name] === 'function',
  );
}
