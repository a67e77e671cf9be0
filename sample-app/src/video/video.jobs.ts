import { Injectable, Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { JobKind, defineJobKind, type JobContext } from 'nestjs-typeorm-jobs';

export interface VideoPayload {
  videoId: string;
}

export interface RenditionPayload extends VideoPayload {
  height: number;
}

export const VIDEO_TRANSCODE = defineJobKind<RenditionPayload>('video.transcode');
export const VIDEO_THUMBNAIL = defineJobKind<VideoPayload>('video.thumbnail');
export const VIDEO_PUBLISH = defineJobKind<VideoPayload>('video.publish');
export const IMPORT_ROW = defineJobKind<{ importId: string; row: number }>('import.row');
export const IMPORT_REPORT = defineJobKind<{
  importId: string;
  batch: { id: number; total: number; succeeded: number; failed: number; cancelled: number };
}>('import.report');

/**
 * A flow (the publish runs after every rendition and the thumbnail) and a batch (an import's rows,
 * with a report once all have ended). The sample only pretends to transcode and to import.
 */
@Injectable()
export class VideoJobs {
  private readonly logger = new Logger(VideoJobs.name);

  @JobKind(VIDEO_TRANSCODE, { maxAttempts: 3 })
  async transcode(job: JobContext<RenditionPayload>) {
    await sleep(300, undefined, { signal: job.signal });
    return { url: `/videos/${job.data.videoId}/${job.data.height}p.mp4` };
  }

  @JobKind(VIDEO_THUMBNAIL)
  thumbnail(job: JobContext<VideoPayload>) {
    return { url: `/videos/${job.data.videoId}/thumb.jpg` };
  }

  /** Runs once its children have ended, and reads what they returned. */
  @JobKind(VIDEO_PUBLISH)
  async publish(job: JobContext<VideoPayload>) {
    const parts = await job.dependencies();
    this.logger.log(`job #${job.id}: publishing ${job.data.videoId} with ${parts.length} parts`);
    return { published: job.data.videoId, parts: parts.map((part) => part.result) };
  }

  /** One row of an import: every seventh fails, to show the batch's counts. */
  @JobKind(IMPORT_ROW, { maxAttempts: 1 })
  importRow(job: JobContext<{ importId: string; row: number }>) {
    if (job.data.row % 7 === 6) throw new Error(`row ${job.data.row} is not valid`);
    return { imported: job.data.row };
  }

  /** The batch's callback: enqueued once, when the last row has ended, with the counts. */
  @JobKind(IMPORT_REPORT)
  report(job: JobContext<{ importId: string; batch: { succeeded: number; failed: number } }>) {
    const { importId, batch } = job.data;
    this.logger.log(`import ${importId}: ${batch.succeeded} rows imported, ${batch.failed} failed`);
    return batch;
  }
}
